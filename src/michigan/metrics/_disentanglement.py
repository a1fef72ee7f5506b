"""Disentanglement scores: MIG, Spearman correlation gap, FactorVAE score, kNN factors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata
from sklearn.neighbors import NearestNeighbors

from .._docs import insert_docs
from ._mutual_info import mutual_info
from ._utils import (
    as_rng,
    discretize_factor,
    factor_as_numeric,
    fit_pca,
    is_categorical,
    largest_gaps,
    matched_expression,
    resolve_codes,
    resolve_factors,
    subsample_index,
    take_rows,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import ArrayLike


@insert_docs
def mig(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    latent_key: str | None = None,
    posterior_var: str | ArrayLike | None = None,
    return_per_factor: bool = False,
    **mutual_info_kwargs,
) -> float | tuple[float, pd.Series]:
    """Mutual information gap (Chen et al. 2018).

    For each factor ``v_k``, the gap between the largest and the second-largest normalised
    mutual information ``I(z_j; v_k) / H(v_k)`` over latents (each clamped at ≥ 0); MIG is
    the mean gap over factors. 1 when each factor is captured by exactly one latent, 0 when
    by none or by two alike. The information comes from :func:`~michigan.metrics.mutual_info`
    (posterior mixture when ``posterior_var`` is given, binned codes otherwise).

    Parameters
    ----------
    %(metrics_codes_factors)s
    posterior_var
        Posterior variances (cells × latents, or one per latent), or an ``.obsm`` key holding
        them; strongly advised for VAE codes. ``None`` scores the codes by binning.
    return_per_factor
        Also return the gap of each factor.
    **mutual_info_kwargs
        The estimator's further options, passed to :func:`~michigan.metrics.mutual_info`:
        ``n_bins``, ``n_latent_bins``, ``max_cells``, ``seed``.

    Returns
    -------
    MIG in [0, 1]; with ``return_per_factor``, also a Series of gaps indexed by factor.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> factors = rng.integers(0, 4, size=(1000, 2))
    >>> codes = np.column_stack([factors, rng.standard_normal(1000)])
    >>> score, gaps = mg.metrics.mig(codes, factors, return_per_factor=True)
    >>> score > 0.9
    True
    >>> mg.metrics.mig(adata, ["batch", "path", "step"], latent_key="X_michigan")  # doctest: +SKIP
    """
    information = mutual_info(
        data,
        factors,
        latent_key=latent_key,
        posterior_var=posterior_var,
        **mutual_info_kwargs,
    )
    gaps = largest_gaps(information)
    score = float(gaps.mean())
    return (score, gaps) if return_per_factor else score


@insert_docs
def spearman_correlation(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    latent_key: str | None = None,
) -> pd.DataFrame:
    """Spearman correlation ρ of every latent with every factor.

    Ranks use all cells (O(n log n) time, O(n · (d + K)) memory). Categorical factors enter
    by their category codes, so ρ of an unordered factor with more than two levels depends on
    the order of its categories. A constant latent has ρ = 0. The factors may also be those
    that :func:`~michigan.metrics.knn_factor_prediction` predicted for generated cells.

    Parameters
    ----------
    %(metrics_codes_factors)s

    Returns
    -------
    A DataFrame of signed correlations in [-1, 1], latents × factors.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> step = rng.uniform(size=300)
    >>> codes = np.column_stack([np.exp(step), rng.standard_normal(300)])
    >>> rho = mg.metrics.spearman_correlation(codes, step)
    >>> round(float(rho.iloc[0, 0]), 6)
    1.0
    """
    codes, latent_names = resolve_codes(data, latent_key)
    frame = resolve_factors(data, factors, codes.shape[0])
    factor_values = np.column_stack([factor_as_numeric(c) for _, c in frame.items()])

    def standardised_ranks(values: np.ndarray) -> np.ndarray:
        ranks = np.empty_like(values)
        for j, column in enumerate(values.T):  # one column at a time keeps temporaries O(n)
            centred = rankdata(column) - (column.size + 1) / 2
            norm = np.sqrt(centred @ centred)
            ranks[:, j] = centred / norm if norm > 0 else 0.0
        return ranks

    rho = np.clip(standardised_ranks(codes).T @ standardised_ranks(factor_values), -1.0, 1.0)
    result = pd.DataFrame(
        rho, index=pd.Index(latent_names, name="latent"), columns=pd.Index(frame.columns)
    )
    result.columns.name = "factor"
    return result


@insert_docs
def spearman_gap(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    latent_key: str | None = None,
    return_per_factor: bool = False,
) -> float | tuple[float, pd.Series]:
    """Spearman correlation gap (Yu & Welch 2021): MIG's gap on ``|ρ(z_j, v_k)|``.

    For each factor, ``|ρ|`` of the most correlated latent minus that of the runner-up; the
    mean over factors. Needs no posterior, so it also scores the codes of generated cells
    against factors predicted by :func:`~michigan.metrics.knn_factor_prediction`.

    Parameters
    ----------
    %(metrics_codes_factors)s
    return_per_factor
        Also return the gap of each factor.

    Returns
    -------
    The gap in [0, 1]; with ``return_per_factor``, also a Series of gaps indexed by factor.
    :func:`~michigan.metrics.spearman_correlation` gives the full matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> factors = rng.uniform(size=(500, 2))
    >>> codes = np.column_stack([factors, rng.standard_normal(500)])
    >>> mg.metrics.spearman_gap(codes, factors) > 0.9
    True
    """
    rho = spearman_correlation(data, factors, latent_key=latent_key)
    gaps = largest_gaps(rho.abs())
    score = float(gaps.mean())
    return (score, gaps) if return_per_factor else score


@insert_docs
def factorvae_score(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    latent_key: str | None = None,
    n_bins: int = 4,
    n_cells_per_vote: int = 40,
    n_train_votes: int = 800,
    n_eval_votes: int = 800,
    collapsed_std: float = 0.05,
    seed: int = 0,
) -> float:
    """FactorVAE disentanglement score (Kim & Mnih 2018) on observed cells.

    Each vote picks a factor at random, fixes it at one of its values (uniformly over values)
    and takes ``n_cells_per_vote`` cells sharing that value; latents are divided by their
    standard deviation over all cells, and the vote is the latent of least variance over the
    chosen cells. A majority-vote classifier maps each latent to the factor it most often
    voted for on ``n_train_votes`` votes; the score is its accuracy on ``n_eval_votes``
    held-out votes. Latents whose standard deviation is below ``collapsed_std`` times the
    largest one are dropped (collapsed, as Kim & Mnih prune them). Continuous factors are cut
    into ``n_bins`` quantile bins. Memory O(n · d); time O(n · d + votes · L · d).

    Parameters
    ----------
    %(metrics_codes_factors)s
    n_bins
        Quantile bins of continuous factors.
    n_cells_per_vote
        Cells sharing the fixed factor value in each vote (L).
    n_train_votes
        Votes that fit the majority-vote classifier.
    n_eval_votes
        Held-out votes the accuracy is measured on.
    collapsed_std
        Relative standard deviation below which a latent counts as collapsed.
    seed
        Seed of the votes.

    Returns
    -------
    The accuracy in [1/K, 1] for K factors (1: each factor pins down its own latent).

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> factors = rng.integers(0, 5, size=(2000, 3))
    >>> codes = factors + 0.1 * rng.standard_normal((2000, 3))
    >>> mg.metrics.factorvae_score(codes, factors) > 0.95
    True
    """
    for name, value in (
        ("n_cells_per_vote", n_cells_per_vote),
        ("n_train_votes", n_train_votes),
        ("n_eval_votes", n_eval_votes),
    ):
        if value < 2:
            raise ValueError(f"{name} must be at least 2, got {value}")
    codes, _ = resolve_codes(data, latent_key)
    frame = resolve_factors(data, factors, codes.shape[0])
    stds = codes.std(axis=0)
    if stds.max() <= 0:
        raise ValueError("every latent is constant over the cells; there is nothing to score")
    active = stds > collapsed_std * stds.max()
    scaled = codes[:, active] / stds[active]
    levels = []  # per factor, the cells of each of its values
    for _, column in frame.items():
        labels = discretize_factor(column, n_bins)
        order = np.argsort(labels, kind="stable")
        splits = np.flatnonzero(np.diff(labels[order])) + 1
        levels.append(np.split(order, splits))

    rng = as_rng(seed)

    def vote(n_votes: int) -> tuple[np.ndarray, np.ndarray]:
        factor_of_vote = rng.integers(len(levels), size=n_votes)
        least_variable = np.empty(n_votes, dtype=np.int64)
        for i, k in enumerate(factor_of_vote):
            cells = levels[k][rng.integers(len(levels[k]))]
            chosen = rng.choice(cells, n_cells_per_vote, replace=cells.size < n_cells_per_vote)
            least_variable[i] = scaled[chosen].var(axis=0).argmin()
        return least_variable, factor_of_vote

    train_latent, train_factor = vote(n_train_votes)
    eval_latent, eval_factor = vote(n_eval_votes)
    counts = np.zeros((scaled.shape[1], len(levels)), dtype=np.int64)
    np.add.at(counts, (train_latent, train_factor), 1)
    majority = np.where(
        counts.sum(axis=1) > 0, counts.argmax(axis=1), np.bincount(train_factor).argmax()
    )
    return float(np.mean(majority[eval_latent] == eval_factor))


def knn_factor_prediction(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    layer: str | None = None,
    n_neighbors: int = 3,
    n_pcs: int = 50,
    max_reference_cells: int = 10_000,
    chunk_size: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Predict ground-truth factors of generated cells from their nearest real cells.

    As in the paper: a k-nearest-neighbour model (k = 3) is fitted on the principal components
    of real cells with known factors, then applied to the generated cells, which have no
    encoder. Numeric factors are predicted as the mean of the neighbours' values (a kNN
    regressor), categorical ones as their majority (a kNN classifier); one
    :class:`~sklearn.neighbors.NearestNeighbors` search serves all factors. Correlate the
    predictions with the generating codes through :func:`~michigan.metrics.spearman_gap`.
    Memory: at most ``max_reference_cells`` real cells (sparse input stays sparse) and
    ``chunk_size`` generated cells at a time.

    Parameters
    ----------
    real
        Real cells: an AnnData or an expression matrix (cells × genes, dense or sparse).
    generated
        Generated cells over the same genes, same kind of matrix.
    factors
        ``.obs`` keys of ``real``, or the factor values of the real cells.
    layer
        Layer of both AnnDatas to read (``None``: ``.X``). Compare matrices of one kind
        (e.g. log-normalised expression on both sides).
    n_neighbors
        Neighbours (k).
    n_pcs
        Principal components of the real cells the neighbours are searched in.
    max_reference_cells
        Real cells used at most (random subsample).
    chunk_size
        Generated cells densified and predicted at a time.
    seed
        Seed of the subsample and the PCA.

    Returns
    -------
    A DataFrame of predicted factors, one row per generated cell (indexed by its obs name
    when ``generated`` is an AnnData) and one column per factor.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> step = rng.uniform(size=400)
    >>> real = np.outer(step, np.ones(20)) + 0.05 * rng.standard_normal((400, 20))
    >>> fake = real[:100] + 0.01 * rng.standard_normal((100, 20))
    >>> predicted = mg.metrics.knn_factor_prediction(real, fake, step, n_pcs=5)
    >>> float(np.corrcoef(predicted["factor_0"], step[:100])[0, 1]) > 0.95
    True
    """
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    frame = resolve_factors(real, factors, real_matrix.shape[0])
    rows = subsample_index(real_matrix.shape[0], max_reference_cells, as_rng(seed))
    if rows.size < n_neighbors:
        raise ValueError(
            f"n_neighbors={n_neighbors} exceeds the {rows.size} real reference cells; "
            "lower n_neighbors or pass more real cells"
        )
    reference = take_rows(real_matrix, rows, what="real")
    pca = fit_pca(reference, n_pcs, seed)
    neighbours = NearestNeighbors(n_neighbors=n_neighbors).fit(pca.transform(reference))
    # One neighbour search serves every factor: a uniform-weight kNN regressor averages the
    # neighbours' values and a kNN classifier takes their majority (ties: first category).
    targets = {}
    for name, column in frame.items():
        values = column.to_numpy()[rows]
        if is_categorical(column):
            codes, categories = pd.factorize(values, sort=True)
            targets[name] = (codes, categories)
        else:
            targets[name] = (values.astype(np.float64), None)

    if sparse.issparse(gen_matrix) and gen_matrix.format != "csr":
        gen_matrix = gen_matrix.tocsr()
    predictions = {name: [] for name in targets}
    for start in range(0, gen_matrix.shape[0], chunk_size):
        stop = min(start + chunk_size, gen_matrix.shape[0])
        block = take_rows(gen_matrix, np.arange(start, stop), what="generated")
        nearest = neighbours.kneighbors(pca.transform(block), return_distance=False)
        for name, (values, categories) in targets.items():
            if categories is None:
                predictions[name].append(values[nearest].mean(axis=1))
                continue
            votes = np.zeros((stop - start, len(categories)), dtype=np.int64)
            np.add.at(votes, (np.arange(stop - start)[:, None], values[nearest]), 1)
            predictions[name].append(np.asarray(categories)[votes.argmax(axis=1)])
    index = getattr(generated, "obs_names", None)
    result = pd.DataFrame(
        {name: np.concatenate(parts) for name, parts in predictions.items()}, index=index
    )
    for name, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            result[name] = pd.Categorical(result[name], categories=column.cat.categories)
    return result
