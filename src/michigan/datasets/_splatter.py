"""Splatter's "paths" simulation (Zappia et al. 2017), written from the published model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.interpolate import CubicSpline

from ._arguments import apply_preset
from ._splatter_params import SplatterParams, validate_splatter_params

_PAPER_SETUP = {
    "n_cells": 10_000,
    "n_genes": 2_000,
    "n_batches": 2,
    "n_paths": 2,
    "n_steps": 20,
    "de_prob": 0.5,
    "de_fac_loc": 0.01,
    "de_fac_scale": 0.5,
    "bcv_common": 0.1,
}

#: The two Splatter set-ups of the paper (Yu & Welch 2021, Fig. 1 and Fig. S1): 10,000 cells,
#: 2,000 genes, 2 batches, 2 paths of 20 steps, (de_prob, de_fac_loc, de_fac_scale,
#: bcv_common) = (0.5, 0.01, 0.5, 0.1); "linear" has no non-linear genes.
SPLATTER_PRESETS = MappingProxyType(
    {
        "linear": MappingProxyType({**_PAPER_SETUP, "nonlinear_prob": 0.0}),
        "nonlinear": MappingProxyType({**_PAPER_SETUP, "nonlinear_prob": 0.1}),
    }
)

_N_KNOTS = 5  # knots of each Brownian bridge
_MIN_FACTOR = 1e-6  # floor of the non-linear step factors
_CHUNK_CELLS = 1_024  # cells drawn at once: bounds the dense working memory


def splatter_paths(
    n_cells: int = 10_000,
    n_genes: int = 2_000,
    n_batches: int = 2,
    n_paths: int = 2,
    n_steps: int = 20,
    *,
    preset: Literal["linear", "nonlinear"] | None = None,
    batch_cells: Sequence[int] | None = None,
    group_prob: Sequence[float] | None = None,
    path_from: Sequence[int | None] | None = None,
    de_prob: float | Sequence[float] = 0.5,
    de_down_prob: float | Sequence[float] = 0.5,
    de_fac_loc: float | Sequence[float] = 0.01,
    de_fac_scale: float | Sequence[float] = 0.5,
    nonlinear_prob: float = 0.1,
    sigma_fac: float = 0.8,
    skew: float | Sequence[float] = 0.5,
    mean_shape: float = 0.6,
    mean_rate: float = 0.3,
    out_prob: float = 0.05,
    out_fac_loc: float = 4.0,
    out_fac_scale: float = 0.5,
    batch_fac_loc: float = 0.1,
    batch_fac_scale: float = 0.1,
    lib_loc: float = 11.0,
    lib_scale: float = 0.2,
    bcv_common: float = 0.1,
    bcv_df: float = 60.0,
    dropout_mid: float | None = None,
    dropout_shape: float = -1.0,
    return_means: bool = False,
    seed: int | None = 0,
) -> AnnData:
    """Simulate cells along differentiation paths with Splatter's "paths" model.

    A re-implementation of ``splatSimulate(method = "paths")`` of the Splatter R package
    (Zappia et al., Genome Biology 2017), the simulator of the MichiGAN paper. The steps, in
    order: library sizes; gene means with outliers; batch factors; per-path differential
    expression (DE) factors, a child path multiplying its parent's; the factor of each gene
    along each path, linear from start to end, or a Brownian bridge through a natural cubic
    spline for non-linear genes; the step of each cell; cell means rescaled to the library
    size; biological coefficient of variation (BCV); Poisson counts; optional dropout.
    The defaults are the paper's set-up; ``docs/simulators.md`` explains every parameter.

    Parameters
    ----------
    n_cells, n_genes
        Size of the simulated data.
    n_batches
        Number of batches, contiguous blocks of cells of (nearly) equal size.
    n_paths
        Number of differentiation paths; each cell draws its path with ``group_prob``.
    n_steps
        Number of steps along every path (the ``step`` of a cell is 1 to ``n_steps``).
    preset
        ``"linear"`` or ``"nonlinear"``: the paper's "linear step" and "non-linear step" data
        (:data:`SPLATTER_PRESETS`). Arguments left at their defaults take the preset's values;
        arguments given another value win over it.
    batch_cells
        Cells per batch; when given it sets ``n_cells`` and ``n_batches``.
    group_prob
        Probability of each path (sums to 1); equal by default.
    path_from
        Parent of each path: ``path_from[i]`` is the index of the path that path ``i`` continues,
        or ``None`` (or ``-1``) when path ``i`` starts at the origin. All start at the origin
        by default. Must describe a forest: no cycles.
    de_prob
        Probability that a gene is differentially expressed along a path (one value, or one per
        path).
    de_down_prob
        Probability that a DE gene goes down (factor below 1).
    de_fac_loc, de_fac_scale
        Location and scale of the log-normal DE factors, ``exp(±|N(loc, scale)|)``.
    nonlinear_prob
        Probability that a gene follows a non-linear (Brownian-bridge) course along each path.
    sigma_fac
        Scale of the bridges: each bridge's SD is drawn from ``U(0, sigma_fac * (x + y) / 2)``
        for start and end factors ``x`` and ``y``.
    skew
        Skew of the step distribution: step probabilities ramp linearly from ``skew`` (step 1) to
        ``1 - skew`` (last step); 0.5 gives uniform steps.
    mean_shape, mean_rate
        Gamma distribution of the gene means.
    out_prob, out_fac_loc, out_fac_scale
        Probability that a gene is an expression outlier, and the log-normal factor that
        multiplies the median gene mean for outliers.
    batch_fac_loc, batch_fac_scale
        Log-normal batch factors, ``exp(±|N(loc, scale)|)`` per gene and batch.
    lib_loc, lib_scale
        Library sizes are ``LogNormal(lib_loc, lib_scale)``.
    bcv_common, bcv_df
        Common BCV and the degrees of freedom of its scaled inverse χ² variation.
    dropout_mid, dropout_shape
        Logistic dropout: a count is set to zero with probability
        ``1 / (1 + exp(-dropout_shape * (log(mean) - dropout_mid)))``. No dropout when
        ``dropout_mid`` is ``None``.
    return_means
        Also store the per-cell true means (before BCV) in ``.layers["true_means"]`` (dense,
        ``n_cells × n_genes`` floats: meant for small simulations).
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    AnnData with integer counts (CSR) in ``.X`` and ``.layers["counts"]``;
    ``.obs``: ``batch``, ``path`` (categorical), ``step`` (1 to ``n_steps``), ``library_size``
    (the expected library size of Splatter's ``ExpLibSize``);
    ``.var``: ``base_mean``, ``outlier_factor``, ``gene_mean``, ``batch_factor_<batch>``,
    ``de_factor_<path>`` and ``nonlinear``; ``.varm["path_factors"]``: the factor of each gene
    at each step of each path (``n_genes × n_paths × n_steps``); ``.uns["splatter"]``: the
    parameters.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(n_cells=500, n_genes=200, seed=1)
    >>> adata.obs[["batch", "path", "step"]].nunique().tolist()
    [2, 2, 20]
    >>> linear = mg.datasets.splatter_paths(preset="linear", n_cells=500, n_genes=200)
    >>> int(linear.var["nonlinear"].sum())
    0
    """
    arguments = dict(locals())
    del arguments["preset"], arguments["return_means"]
    resolved = apply_preset(splatter_paths, preset, SPLATTER_PRESETS, arguments)
    params = validate_splatter_params(**resolved)
    rng = np.random.default_rng(params.seed)
    cells = _simulate_cells(rng, params)
    genes = _simulate_genes(rng, params)
    counts, true_means = _draw_counts(rng, params, genes, cells, return_means)
    return _to_anndata(params, genes, cells, counts, true_means)


@dataclass(frozen=True)
class _GeneTruth:
    base_mean: np.ndarray  # (n_genes,) Gamma draws
    outlier_factor: np.ndarray  # (n_genes,) 1 for genes that are not outliers
    gene_mean: np.ndarray  # (n_genes,) base mean, or median base mean × factor for outliers
    batch_factors: np.ndarray  # (n_batches, n_genes)
    de_factors: np.ndarray  # (n_paths, n_genes) this path's own DE factors
    nonlinear: np.ndarray  # (n_genes,) bool
    path_factors: np.ndarray  # (n_paths, n_steps, n_genes)


@dataclass(frozen=True)
class _CellTruth:
    library_size: np.ndarray  # (n_cells,) expected library sizes
    batch: np.ndarray  # (n_cells,) batch index
    path: np.ndarray  # (n_cells,) path index
    step: np.ndarray  # (n_cells,) 1..n_steps


def _simulate_cells(rng: np.random.Generator, params: SplatterParams) -> _CellTruth:
    library_size = rng.lognormal(params.lib_loc, params.lib_scale, params.n_cells)
    batch = np.repeat(np.arange(params.n_batches), params.batch_cells)
    path = rng.choice(params.n_paths, size=params.n_cells, p=params.group_prob)
    step = np.empty(params.n_cells, dtype=np.int64)
    for index in range(params.n_paths):
        in_path = path == index
        step[in_path] = _draw_steps(rng, params.n_steps, params.skew[index], int(in_path.sum()))
    return _CellTruth(library_size, batch, path, step)


def _draw_steps(rng: np.random.Generator, n_steps: int, skew: float, size: int) -> np.ndarray:
    """Steps 1..n_steps with probabilities ramping linearly from ``skew`` to ``1 - skew``."""
    weights = np.linspace(skew, 1.0 - skew, n_steps)
    if weights.sum() == 0:  # a single step with skew 0: that step
        weights = np.ones(n_steps)
    return rng.choice(np.arange(1, n_steps + 1), size=size, p=weights / weights.sum())


def _simulate_genes(rng: np.random.Generator, params: SplatterParams) -> _GeneTruth:
    base_mean = rng.gamma(params.mean_shape, 1.0 / params.mean_rate, params.n_genes)
    is_outlier = rng.random(params.n_genes) < params.out_prob
    magnitude = np.abs(rng.normal(params.out_fac_loc, params.out_fac_scale, params.n_genes))
    outlier_factor = np.where(is_outlier, np.exp(magnitude), 1.0)
    gene_mean = np.where(is_outlier, np.median(base_mean) * outlier_factor, base_mean)
    batch_factors = np.stack(
        [
            _lognormal_factors(
                rng, params.n_genes, 1.0, 0.5, params.batch_fac_loc, params.batch_fac_scale
            )
            for _ in range(params.n_batches)
        ]
    )
    de_factors = np.stack(
        [
            _lognormal_factors(
                rng,
                params.n_genes,
                params.de_prob[path],
                params.de_down_prob[path],
                params.de_fac_loc[path],
                params.de_fac_scale[path],
            )
            for path in range(params.n_paths)
        ]
    )
    nonlinear = rng.random(params.n_genes) < params.nonlinear_prob
    path_factors = _path_factors(rng, params, de_factors, nonlinear)
    return _GeneTruth(
        base_mean, outlier_factor, gene_mean, batch_factors, de_factors, nonlinear, path_factors
    )


def _lognormal_factors(
    rng: np.random.Generator,
    n: int,
    select_prob: float,
    down_prob: float,
    loc: float,
    scale: float,
) -> np.ndarray:
    """Factors ``exp(±|N(loc, scale)|)`` for a ``select_prob`` share of genes, 1 elsewhere."""
    selected = rng.random(n) < select_prob
    down = rng.random(n) < down_prob
    magnitude = np.abs(rng.normal(loc, scale, n))
    return np.where(selected, np.exp(np.where(down, -magnitude, magnitude)), 1.0)


def _path_order(parents: Sequence[int]) -> list[int]:
    """Paths ordered so that each parent comes before its children."""
    order: list[int] = []
    frontier = [path for path, parent in enumerate(parents) if parent == -1]
    while frontier:
        path = frontier.pop(0)
        order.append(path)
        frontier.extend(child for child, parent in enumerate(parents) if parent == path)
    return order


def _path_factors(
    rng: np.random.Generator, params: SplatterParams, de_factors: np.ndarray, nonlinear: np.ndarray
) -> np.ndarray:
    """Factor of every gene at every step of every path: ``(n_paths, n_steps, n_genes)``.

    A path runs from its start factor ``x`` (its parent's end factor, 1 at the origin) to its
    end factor ``y = x * DE factor``: linearly for linear genes, along a Brownian bridge through
    a natural cubic spline for non-linear ones.
    """
    factors = np.empty((params.n_paths, params.n_steps, params.n_genes))
    end = np.ones((params.n_paths, params.n_genes))
    position = np.linspace(0.0, 1.0, params.n_steps)[:, None]
    for path in _path_order(params.path_from):
        parent = params.path_from[path]
        start = np.ones(params.n_genes) if parent == -1 else end[parent]
        end[path] = start * de_factors[path]
        factors[path] = start + (end[path] - start) * position
        if nonlinear.any():
            factors[path][:, nonlinear] = _brownian_bridges(
                rng, start[nonlinear], end[path][nonlinear], params.n_steps, params.sigma_fac
            ).T
    return factors


def _brownian_bridges(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, n_steps: int, sigma_fac: float
) -> np.ndarray:
    """A bridge per gene from ``start`` to ``end`` over 5 knots, splined to ``n_steps`` points."""
    knot_time = np.linspace(0.0, 1.0, _N_KNOTS)
    sigma = rng.uniform(0.0, sigma_fac * (start + end) / 2)
    increments = (
        rng.normal(size=(start.size, _N_KNOTS - 1)) * sigma[:, None] * np.sqrt(knot_time[1])
    )
    walk = np.concatenate([np.zeros((start.size, 1)), np.cumsum(increments, axis=1)], axis=1)
    knots = start[:, None] + walk - knot_time * (walk[:, -1:] - end[:, None] + start[:, None])
    spline = CubicSpline(knot_time, knots, axis=1, bc_type="natural")
    return np.maximum(spline(np.linspace(0.0, 1.0, n_steps)), _MIN_FACTOR)


def _draw_counts(
    rng: np.random.Generator,
    params: SplatterParams,
    genes: _GeneTruth,
    cells: _CellTruth,
    return_means: bool,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Cell means, BCV, gamma-Poisson counts and dropout, a chunk of cells at a time."""
    bcv_scale = np.sqrt(params.bcv_df / rng.chisquare(params.bcv_df, params.n_genes))
    true_means = np.empty((params.n_cells, params.n_genes), np.float32) if return_means else None
    blocks = []
    for begin in range(0, params.n_cells, _CHUNK_CELLS):
        chunk = slice(begin, min(begin + _CHUNK_CELLS, params.n_cells))
        means = (
            genes.gene_mean
            * genes.batch_factors[cells.batch[chunk]]
            * genes.path_factors[cells.path[chunk], cells.step[chunk] - 1]
        )
        means *= (cells.library_size[chunk] / means.sum(axis=1))[:, None]
        if true_means is not None:
            true_means[chunk] = means
        means = np.maximum(means, np.finfo(float).tiny)
        bcv = (params.bcv_common + 1.0 / np.sqrt(means)) * bcv_scale
        noisy_means = rng.gamma(1.0 / bcv**2, means * bcv**2)
        counts = rng.poisson(noisy_means)
        if params.dropout_mid is not None:
            with np.errstate(divide="ignore", over="ignore"):
                logit = -params.dropout_shape * (np.log(noisy_means) - params.dropout_mid)
                drop_prob = 1.0 / (1.0 + np.exp(logit))
            counts[rng.random(counts.shape) < drop_prob] = 0
        blocks.append(sp.csr_matrix(counts.astype(np.int32)))
    return sp.vstack(blocks, format="csr"), true_means


def _to_anndata(
    params: SplatterParams,
    genes: _GeneTruth,
    cells: _CellTruth,
    counts: sp.csr_matrix,
    true_means: np.ndarray | None,
) -> AnnData:
    batch_names = [f"Batch{i + 1}" for i in range(params.n_batches)]
    path_names = [f"Path{i + 1}" for i in range(params.n_paths)]
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical.from_codes(cells.batch, batch_names),
            "path": pd.Categorical.from_codes(cells.path, path_names),
            "step": cells.step,
            "library_size": cells.library_size,
        },
        index=[f"Cell{i + 1}" for i in range(params.n_cells)],
    )
    var = pd.DataFrame(
        {
            "base_mean": genes.base_mean,
            "outlier_factor": genes.outlier_factor,
            "gene_mean": genes.gene_mean,
        },
        index=[f"Gene{i + 1}" for i in range(params.n_genes)],
    )
    for name, factors in zip(batch_names, genes.batch_factors, strict=True):
        var[f"batch_factor_{name}"] = factors
    for name, factors in zip(path_names, genes.de_factors, strict=True):
        var[f"de_factor_{name}"] = factors
    var["nonlinear"] = genes.nonlinear
    adata = AnnData(X=counts, obs=obs, var=var)
    adata.layers["counts"] = counts.copy()
    if true_means is not None:
        adata.layers["true_means"] = true_means
    adata.varm["path_factors"] = np.transpose(genes.path_factors, (2, 0, 1))
    adata.uns["splatter"] = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in asdict(params).items()
        if value is not None
    }
    return adata
