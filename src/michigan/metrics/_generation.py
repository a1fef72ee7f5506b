"""Generation quality: random-forest error, inception score, Fréchet distance, gene fidelity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from scipy.stats import spearmanr
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from .._docs import insert_docs
from ._utils import (
    as_rng,
    fit_pca,
    matched_expression,
    principal_components,
    resolve_real_labels,
    subsample_index,
    take_rows,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _balanced_subsamples(real_matrix, gen_matrix, n_cells: int, seed: int):
    """Equal-sized random subsamples (at most ``n_cells``) of both matrices, not densified."""
    if n_cells < 2:
        raise ValueError(f"n_cells must be at least 2, got {n_cells}")
    n_side = min(n_cells, real_matrix.shape[0], gen_matrix.shape[0])
    rng = as_rng(seed)
    real_rows = subsample_index(real_matrix.shape[0], n_side, rng)
    gen_rows = subsample_index(gen_matrix.shape[0], n_side, rng)
    return (
        take_rows(real_matrix, real_rows, what="real"),
        take_rows(gen_matrix, gen_rows, what="generated"),
    )


@insert_docs
def rf_error(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    *,
    layer: str | None = None,
    n_cells: int = 3000,
    n_pcs: int = 50,
    n_estimators: int = 100,
    n_folds: int = 5,
    n_jobs: int | None = None,
    seed: int = 0,
) -> float:
    """Random-forest error of telling generated cells from real ones (cscGAN; the paper).

    ``n_cells`` real and ``n_cells`` generated cells (fewer if either side has fewer; both
    sides always equal) are projected on ``n_pcs`` principal components of all of them
    together (a PCA of the real cells alone would let the forest separate even identical
    distributions), and a random forest is cross-validated on real-vs-generated labels
    (``n_folds`` stratified, shuffled folds). The error is one minus the mean accuracy:
    0.5 means indistinguishable, 0 means perfectly separable. Memory: the two subsamples
    (dense input: ``2 · n_cells × n_genes`` floats; sparse input stays sparse).

    Parameters
    ----------
    %(metrics_real_generated)s
    %(metrics_layer)s
    n_cells
        Cells drawn from each side (3,000 in the paper).
    n_pcs
        Principal components of the pooled cells (50 in the paper).
    n_estimators
        Trees of the random forest.
    n_folds
        Cross-validation folds (5 in the paper).
    n_jobs
        Parallel jobs of the forest (scikit-learn semantics).
    seed
        Seed of the subsamples, the PCA, the folds and the forest.

    Returns
    -------
    The mean cross-validated error, in [0, 1]; about 0.5 at best.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> real, fake = rng.normal(size=(300, 20)), rng.normal(3.0, size=(300, 20))
    >>> mg.metrics.rf_error(real, fake, n_estimators=20) < 0.05
    True
    >>> mg.metrics.rf_error(adata, generated_adata, layer="log1p")  # doctest: +SKIP
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    real_block, gen_block = _balanced_subsamples(real_matrix, gen_matrix, n_cells, seed)
    if real_block.shape[0] < n_folds:
        raise ValueError(
            f"only {real_block.shape[0]} cells per side for {n_folds} folds; "
            "pass more cells or lower n_folds"
        )
    real_pcs, gen_pcs = principal_components([real_block, gen_block], n_pcs, seed)
    features = np.vstack([real_pcs, gen_pcs])
    is_generated = np.repeat([0, 1], [real_pcs.shape[0], gen_pcs.shape[0]])
    forest = RandomForestClassifier(n_estimators=n_estimators, n_jobs=n_jobs, random_state=seed)
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    accuracy = cross_val_score(forest, features, is_generated, cv=folds, scoring="accuracy")
    return float(1.0 - accuracy.mean())


def _inception_from_probabilities(
    probabilities: np.ndarray, n_splits: int, rng: np.random.Generator
) -> tuple[float, float]:
    """``exp(E_x KL(p(y|x) ‖ p(y)))`` over random splits of the rows; mean and SD."""
    order = rng.permutation(probabilities.shape[0])
    scores = []
    for rows in np.array_split(order, n_splits):
        conditional = probabilities[rows]
        marginal = conditional.mean(axis=0, keepdims=True)
        ratio = np.divide(conditional, marginal, out=np.ones_like(conditional), where=marginal > 0)
        terms = conditional * np.log(np.where(conditional > 0, ratio, 1.0))
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


@insert_docs
def inception_score(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    labels: str | ArrayLike,
    *,
    layer: str | None = None,
    n_cells: int = 3000,
    n_pcs: int = 50,
    n_estimators: int = 100,
    n_splits: int = 10,
    n_jobs: int | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """Inception score of generated cells under a random-forest cell-type classifier.

    A random forest trained on ``n_cells`` real cells (on ``n_pcs`` principal components of
    those cells) gives ``p(y | x)`` for up to ``n_cells`` generated cells;
    ``IS = exp(E_x KL(p(y|x) ‖ p(y)))`` with ``p(y)`` the mean over the split, computed on
    ``n_splits`` random splits. It ranges from 1 (every cell looks alike, or none is
    recognisable) to K for K cell types (each cell certain, the types balanced).

    Parameters
    ----------
    %(metrics_real_generated)s
    labels
        Cell type of each real cell, or an ``.obs`` key of ``real``.
    %(metrics_layer)s
    n_cells
        Real cells the classifier is trained on, and generated cells scored (at most).
    n_pcs
        Principal components of the real training cells.
    n_estimators
        Trees of the random forest.
    n_splits
        Splits of the generated cells.
    n_jobs
        Parallel jobs of the forest.
    seed
        Seed of the subsamples, the PCA, the forest and the splits.

    Returns
    -------
    Mean and standard deviation of the score over the splits.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> types = rng.integers(0, 3, size=600)
    >>> real = 10.0 * np.eye(3)[types] + rng.normal(size=(600, 3))
    >>> fake = 10.0 * np.eye(3)[types[:300]] + rng.normal(size=(300, 3))
    >>> mean, sd = mg.metrics.inception_score(real, fake, types, n_estimators=20)
    >>> round(mean)
    3
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    cell_types = resolve_real_labels(real, labels, real_matrix.shape[0])
    rng = as_rng(seed)
    real_rows = subsample_index(real_matrix.shape[0], n_cells, rng)
    train_types = cell_types.to_numpy()[real_rows]
    if np.unique(train_types).size < 2:
        raise ValueError(
            "the real cells hold fewer than 2 cell types; the inception score needs a "
            "classifier over at least 2 classes"
        )
    real_block = take_rows(real_matrix, real_rows, what="real")
    gen_rows = subsample_index(gen_matrix.shape[0], n_cells, rng)
    gen_block = take_rows(gen_matrix, gen_rows, what="generated")
    if gen_block.shape[0] < n_splits:
        raise ValueError(
            f"only {gen_block.shape[0]} generated cells for {n_splits} splits; "
            "generate more cells or lower n_splits"
        )
    pca = fit_pca(real_block, n_pcs, seed)
    forest = RandomForestClassifier(n_estimators=n_estimators, n_jobs=n_jobs, random_state=seed)
    forest.fit(pca.transform(real_block), train_types)
    probabilities = forest.predict_proba(pca.transform(gen_block))
    return _inception_from_probabilities(probabilities, n_splits, rng)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


@insert_docs
def frechet_distance(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    *,
    layer: str | None = None,
    n_cells: int = 3000,
    n_pcs: int = 50,
    seed: int = 0,
) -> float:
    """Fréchet distance between real and generated cells on pooled principal components.

    Both sides (``n_cells`` each, balanced as in :func:`rf_error`) are projected on ``n_pcs``
    principal components of all of them together; with means ``μ_r, μ_g`` and covariances
    ``Σ_r, Σ_g`` there, ``FD = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r^½ Σ_g Σ_r^½)^½)``.
    0 for identical distributions (up to a small positive sampling bias that shrinks with
    ``n_cells``); unlike the random-forest error it keeps growing as the cells drift apart.

    Parameters
    ----------
    %(metrics_real_generated)s
    %(metrics_layer)s
    n_cells
        Cells drawn from each side.
    n_pcs
        Principal components of the pooled cells.
    seed
        Seed of the subsamples and the PCA.

    Returns
    -------
    The distance, ≥ 0, in squared expression units.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> real, fake = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5)) + [2, 0, 0, 0, 0]
    >>> round(mg.metrics.frechet_distance(real, fake))
    4
    """
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    real_block, gen_block = _balanced_subsamples(real_matrix, gen_matrix, n_cells, seed)
    real_pcs, gen_pcs = principal_components([real_block, gen_block], n_pcs, seed)
    mean_gap = real_pcs.mean(axis=0) - gen_pcs.mean(axis=0)
    cov_real = np.atleast_2d(np.cov(real_pcs, rowvar=False))
    cov_gen = np.atleast_2d(np.cov(gen_pcs, rowvar=False))
    root_real = _symmetric_sqrt(cov_real)
    cross = np.linalg.eigvalsh(root_real @ cov_gen @ root_real)
    trace_term = (
        np.trace(cov_real) + np.trace(cov_gen) - 2 * np.sqrt(np.clip(cross, 0, None)).sum()
    )
    return float(max(mean_gap @ mean_gap + trace_term, 0.0))


def _gene_statistics(matrix, chunk_size: int) -> pd.DataFrame:
    """Per-gene mean, SD and zero fraction, streamed over row chunks of ``matrix``."""
    n_cells, n_genes = matrix.shape
    total, total_sq, nonzero = np.zeros(n_genes), np.zeros(n_genes), np.zeros(n_genes)
    if sparse.issparse(matrix) and matrix.format != "csr":
        matrix = matrix.tocsr()
    for start in range(0, n_cells, chunk_size):
        block = take_rows(
            matrix, np.arange(start, min(start + chunk_size, n_cells)), what="expression"
        )
        if sparse.issparse(block):
            total += np.asarray(block.sum(axis=0)).ravel()
            total_sq += np.bincount(block.indices, weights=block.data**2, minlength=n_genes)
            nonzero += np.bincount(block.indices[block.data != 0], minlength=n_genes)
        else:
            total += block.sum(axis=0)
            total_sq += (block**2).sum(axis=0)
            nonzero += np.count_nonzero(block, axis=0)
    mean = total / n_cells
    variance = np.clip(total_sq - n_cells * mean**2, 0, None) / max(n_cells - 1, 1)
    return pd.DataFrame(
        {"mean": mean, "sd": np.sqrt(variance), "zero_fraction": 1 - nonzero / n_cells}
    )


def _agreement(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    both_vary = np.std(real) > 0 and np.std(generated) > 0
    return {
        "pearson_r": float(np.corrcoef(real, generated)[0, 1]) if both_vary else np.nan,
        "spearman_r": float(spearmanr(real, generated)[0]) if both_vary else np.nan,
        "rmse": float(np.sqrt(np.mean((real - generated) ** 2))),
        "mae": float(np.mean(np.abs(real - generated))),
    }


@insert_docs
def gene_fidelity(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    *,
    layer: str | None = None,
    chunk_size: int = 10_000,
    return_per_gene: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement of per-gene means, standard deviations and zero fractions.

    The three statistics are computed per gene over all real and all generated cells
    (streamed in chunks of ``chunk_size`` rows: memory O(chunk_size × n_genes), sparse
    chunks never densified), then compared across genes by Pearson and Spearman correlation,
    root-mean-square and mean absolute error. Unlike the random-forest error these keep
    their range while generation is still far from perfect.

    Parameters
    ----------
    %(metrics_real_generated)s
    %(metrics_layer)s
    chunk_size
        Cells read at a time.
    return_per_gene
        Also return the per-gene statistics of both sides.

    Returns
    -------
    A DataFrame indexed by statistic (``mean``, ``sd``, ``zero_fraction``) with columns
    ``pearson_r``, ``spearman_r``, ``rmse``, ``mae`` (correlations are NaN when a statistic
    is constant across genes); with ``return_per_gene`` also a genes × statistics DataFrame
    with ``real_`` and ``generated_`` columns.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> means = rng.gamma(2.0, size=50)
    >>> real, fake = rng.poisson(means, size=(500, 50)), rng.poisson(means, size=(500, 50))
    >>> fidelity = mg.metrics.gene_fidelity(real, fake)
    >>> bool(fidelity.loc["mean", "pearson_r"] > 0.95)
    True
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    real_stats = _gene_statistics(real_matrix, chunk_size)
    gen_stats = _gene_statistics(gen_matrix, chunk_size)
    summary = pd.DataFrame(
        {
            name: _agreement(real_stats[name].to_numpy(), gen_stats[name].to_numpy())
            for name in real_stats.columns
        }
    ).T
    summary.index.name = "statistic"
    if not return_per_gene:
        return summary
    per_gene = pd.concat(
        [real_stats.add_prefix("real_"), gen_stats.add_prefix("generated_")], axis=1
    )
    genes = real.var_names if isinstance(real, AnnData) else None
    if genes is not None:
        per_gene.index = genes
    return summary, per_gene
