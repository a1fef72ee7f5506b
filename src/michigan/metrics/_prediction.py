"""Evaluation of predicted cells (latent arithmetic) against the real held-out cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from scipy.stats import linregress

from ..tl import PREDICTED_CODES_KEY
from ._arithmetic import latent_entropy_delta
from ._generation import rf_error
from ._utils import expression_matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def mean_expression(data: AnnData, layer: str | None, what: str) -> tuple[np.ndarray, pd.Index]:
    """Mean expression of every gene over the cells of ``data``, and the genes."""
    matrix, genes = expression_matrix(data, layer, what=what)
    means = np.asarray(matrix.mean(axis=0)).ravel().astype(np.float64)
    if not np.isfinite(means).all():
        raise ValueError(f"the {what} expression holds NaN or infinite values")
    return means, genes


def r2_of_means(x: ArrayLike, y: ArrayLike) -> float:
    """Squared Pearson correlation of two mean-expression vectors (scGen's R²).

    The ``r²`` of :func:`scipy.stats.linregress` of ``y`` on ``x``, which is what scGen
    reports; ``nan`` when either vector is constant.

    Parameters
    ----------
    x, y
        Mean expression per gene, e.g. real and predicted.

    Returns
    -------
    ``r²`` in [0, 1].

    Examples
    --------
    >>> r2_of_means([1.0, 2.0, 3.0], [2.0, 4.1, 5.9])
    0.99...
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} values but y has {len(y)}")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(linregress(x, y).rvalue ** 2)


def top_de_genes(
    control: AnnData,
    perturbed: AnnData,
    n_genes: int = 100,
    *,
    layer: str | None = None,
) -> list[str]:
    """Genes most differentially expressed between control and perturbed cells.

    Wilcoxon rank-sum tests of ``perturbed`` against ``control`` with
    :func:`scanpy.tl.rank_genes_groups` (on a temporary AnnData; the inputs are not changed),
    ranked by the absolute score, so genes going down count as well as genes going up.
    The expression should be log-normalised.

    Parameters
    ----------
    control, perturbed
        Cells of both groups over the same genes.
    n_genes
        Genes returned.
    layer
        Layer of both AnnDatas (``None``: ``.X``).

    Returns
    -------
    Gene names, most differential first.

    Examples
    --------
    >>> genes = top_de_genes(ctrl_cd4t, stim_cd4t, n_genes=100)  # doctest: +SKIP
    """
    import scanpy as sc

    control_matrix, genes = expression_matrix(control, layer, what="control")
    perturbed_matrix, perturbed_genes = expression_matrix(perturbed, layer, what="perturbed")
    if not genes.equals(perturbed_genes):
        raise ValueError(
            "control and perturbed cells list different genes; align them first, e.g. "
            "perturbed[:, control.var_names]"
        )
    stack = sparse.vstack if sparse.issparse(control_matrix) else np.vstack
    combined = AnnData(
        X=stack([control_matrix, perturbed_matrix]),
        obs=pd.DataFrame(
            {
                "group": pd.Categorical(
                    ["control"] * control_matrix.shape[0] + ["perturbed"] * perturbed.n_obs
                )
            },
            index=[str(i) for i in range(control_matrix.shape[0] + perturbed.n_obs)],
        ),
        var=pd.DataFrame(index=genes),
    )
    sc.tl.rank_genes_groups(
        combined,
        "group",
        groups=["perturbed"],
        reference="control",
        method="wilcoxon",
        rankby_abs=True,
        n_genes=min(n_genes, combined.n_vars),
    )
    return [str(g) for g in combined.uns["rank_genes_groups"]["names"]["perturbed"]]


def evaluate_prediction(
    predicted: AnnData,
    real: AnnData,
    control: AnnData | None = None,
    *,
    layer: str | None = None,
    predicted_layer: str | None = None,
    n_top_genes: int = 100,
    de_genes: Sequence[str] | None = None,
    real_latents: ArrayLike | str | None = None,
    predicted_latent_key: str = PREDICTED_CODES_KEY,
    control_latents: ArrayLike | str | None = None,
    n_cells: int = 3000,
    n_estimators: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Score predicted cells against the real held-out cells, in one call.

    * ``rf_error``: random-forest error of predicted vs real cells
      (:func:`~michigan.metrics.rf_error`; 0.5 = indistinguishable).
    * ``r2_mean``: R² of mean expression per gene, predicted vs real, over all genes;
      ``r2_mean_top_de`` over the ``n_top_genes`` genes most differentially expressed between
      ``control`` and ``real`` (scGen's evaluation). R² is the squared Pearson correlation of
      the means (``scipy.stats.linregress`` r², as scGen reports), see :func:`r2_of_means`.
    * ``mean_distance``: Euclidean distance between the mean expression profiles.
    * ``delta_h``: ΔH of the latent prediction (:func:`~michigan.metrics.latent_entropy_delta`)
      when ``real_latents`` is given, else ``nan``.
    * The same scores of the ``control`` cells against the real ones (suffix ``_control``):
      what "no prediction" achieves, for reference.

    Parameters
    ----------
    predicted
        Predicted cells, e.g. from ``model.predict(...)``.
    real
        The real held-out cells of the same combination, over the same genes in the same
        (log-normalised) space.
    control
        Reference cells, e.g. the target cell type without the perturbation; its scores are
        the baseline and it defines the DE genes.
    layer
        Layer of ``real`` and ``control`` with log-normalised expression (``None``: ``.X``).
    predicted_layer
        Layer of ``predicted`` (``None``: ``.X``, where ``predict`` writes it).
    n_top_genes
        Differentially expressed genes for ``r2_mean_top_de``.
    de_genes
        Use these genes instead of ranking them from ``control``.
    real_latents
        The encoder's codes of the real cells (array, or an ``.obsm`` key of ``real``).
    predicted_latent_key
        ``.obsm`` key of ``predicted`` with the predicted codes.
    control_latents
        Codes of the control cells (array, or an ``.obsm`` key of ``control``), for
        ``delta_h_control``.
    n_cells, n_estimators
        Passed to :func:`~michigan.metrics.rf_error` (cells per side, trees).
    seed
        Seed of the random forest and of ΔH.

    Returns
    -------
    Dict of floats (see above) plus ``n_predicted`` and ``n_real``.

    Examples
    --------
    >>> scores = mg.metrics.evaluate_prediction(
    ...     predicted, held_out, control=ctrl_cells, layer="log1p"
    ... )  # doctest: +SKIP
    >>> scores["r2_mean_top_de"], scores["rf_error"]  # doctest: +SKIP
    """
    real_means, genes = mean_expression(real, layer, "real")
    predicted_means, predicted_genes = mean_expression(predicted, predicted_layer, "predicted")
    if not genes.equals(predicted_genes):
        raise ValueError(
            "predicted and real cells list different genes (or another order); predict over "
            "the real cells' genes, e.g. predicted[:, real.var_names]"
        )
    if de_genes is None and control is not None:
        de_genes = top_de_genes(control, real, n_top_genes, layer=layer)
    if de_genes is not None:
        missing = [g for g in de_genes if g not in genes]
        if missing:
            raise ValueError(f"de_genes not among the genes: {missing[:5]}")
        de_index = genes.get_indexer(list(de_genes))
    real_x = expression_matrix(real, layer, what="real")[0]
    candidates = {"": (predicted, predicted_layer, predicted_means)}
    if control is not None:
        control_means, control_genes = mean_expression(control, layer, "control")
        if not genes.equals(control_genes):
            raise ValueError("control and real cells list different genes; align them first")
        candidates["_control"] = (control, layer, control_means)
    scores: dict[str, float] = {"n_predicted": float(predicted.n_obs), "n_real": float(real.n_obs)}
    for suffix, (cells, cells_layer, means) in candidates.items():
        cells_x = expression_matrix(cells, cells_layer, what="compared")[0]
        scores[f"rf_error{suffix}"] = rf_error(
            real_x, cells_x, n_cells=n_cells, n_estimators=n_estimators, seed=seed
        )
        scores[f"r2_mean{suffix}"] = r2_of_means(real_means, means)
        scores[f"r2_mean_top_de{suffix}"] = (
            r2_of_means(real_means[de_index], means[de_index])
            if de_genes is not None
            else float("nan")
        )
        scores[f"mean_distance{suffix}"] = float(np.linalg.norm(means - real_means))
    real_codes = _latents(real, real_latents)
    scores["delta_h"] = float("nan")
    if real_codes is not None:
        predicted_codes = _latents(predicted, predicted_latent_key)
        scores["delta_h"] = latent_entropy_delta(predicted_codes, real_codes, seed=seed)
        if control is not None and control_latents is not None:
            scores["delta_h_control"] = latent_entropy_delta(
                _latents(control, control_latents), real_codes, seed=seed
            )
    return scores


def _latents(data: AnnData, latents: ArrayLike | str | None) -> np.ndarray | None:
    if latents is None:
        return None
    if isinstance(latents, str):
        if latents not in data.obsm:
            raise ValueError(
                f"{latents!r} is not in .obsm (keys: {list(data.obsm.keys())}); pass the codes "
                "as an array or store them first"
            )
        latents = data.obsm[latents]
    codes = np.asarray(latents, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != data.n_obs:
        raise ValueError(
            f"latents must be (n_cells, n_latent) with n_cells = {data.n_obs}, got {codes.shape}"
        )
    return codes
