"""PROSSTT-style branching trajectories (Papadopoulos et al. 2019), from the published model."""

from __future__ import annotations

import string
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from numpy.typing import ArrayLike

from .._validation import check_non_negative, check_positive_int, check_real
from ._arguments import apply_preset

#: The paper's PROSSTT data (Yu & Welch 2021, Figs. S10–S12): 2,000 genes on trees with 3, 4
#: and 5 branch points (7, 9 and 11 branches of 50 pseudotime steps), sampled evenly at every
#: point of the tree: 30, 24 and 20 cells per point, i.e. 10,500, 10,800 and 11,000 cells.
PROSSTT_PRESETS = MappingProxyType(
    {
        f"{points}-way": MappingProxyType(
            {"n_branch_points": points, "n_cells": cells, "n_genes": 2_000, "branch_length": 50}
        )
        for points, cells in ((3, 10_500), (4, 10_800), (5, 11_000))
    }
)

_CHUNK_CELLS = 1_024  # cells drawn at once: bounds the dense working memory


@dataclass(frozen=True)
class _ProssttParams:
    n_branch_points: int
    n_genes: int
    n_cells: int
    branch_length: tuple[int, ...]
    n_programs: int
    coef_shape: float
    coef_scale: float
    momentum: float
    step_sd: float
    max_log_fold: float
    base_mean_loc: float
    base_mean_scale: float
    library_sd: float
    sampling: str
    seed: int | None


def prosstt_tree(
    n_branch_points: int = 1,
    n_genes: int = 2_000,
    n_cells: int = 3_000,
    branch_length: int | Sequence[int] = 50,
    *,
    preset: Literal["3-way", "4-way", "5-way"] | None = None,
    n_programs: int | None = None,
    coef_shape: float | None = None,
    coef_scale: float = 1.0,
    momentum: float = 0.8,
    step_sd: float = 0.01,
    max_log_fold: float = 8.0,
    base_mean_loc: float = 0.0,
    base_mean_scale: float = 1.0,
    alpha: float | ArrayLike | None = None,
    beta: float | ArrayLike | None = None,
    library_sd: float = 0.3,
    sampling: Literal["even", "random"] = "even",
    return_means: bool = False,
    seed: int | None = 0,
) -> AnnData:
    """Simulate cells on a branching differentiation tree with PROSSTT's model.

    A re-implementation of the model of PROSSTT (Papadopoulos, Gonzalo & Söding,
    Bioinformatics 2019). A random binary tree has ``n_branch_points`` branch points; each
    branch lasts ``branch_length`` integer pseudotime steps. ``n_programs`` expression programs
    are random walks with momentum in log space that carry on from the end of the parent branch,
    so expression is continuous across branch points. Gene ``g``'s relative expression is
    ``exp(Σ_k w_gk h_k(t))`` with Gamma-distributed coefficients ``w_gk``; times a base mean per
    gene and a log-normal size factor per cell it gives the mean ``μ``, and counts are negative
    binomial with variance ``α_g μ² + β_g μ``. ``docs/simulators.md`` explains every parameter.

    Parameters
    ----------
    n_branch_points
        Number of (binary) branch points: the tree has ``2 * n_branch_points + 1`` branches.
    n_genes, n_cells
        Size of the simulated data.
    branch_length
        Pseudotime steps of every branch (one number, or one per branch in the order of
        ``.uns["prosstt"]["branches"]``).
    preset
        ``"3-way"``, ``"4-way"`` or ``"5-way"``: the paper's trees (:data:`PROSSTT_PRESETS`).
        Arguments left at their defaults take the preset's values; arguments given another
        value win over it.
    n_programs
        Number of expression programs; ``5 * n_branch_points + 10`` by default.
    coef_shape, coef_scale
        Gamma distribution of the program-to-gene coefficients; a small shape makes each gene
        follow few programs. ``min(0.05, 1 / n_programs)`` by default (the PROSSTT tutorial's).
    momentum
        Share of the previous velocity kept at each step of a program's walk, in [0, 1).
    step_sd
        SD of the Gaussian change of velocity at each step.
    max_log_fold
        Cap on the log relative expression (PROSSTT's cut-off, ``exp(8)`` ≈ 3,000-fold).
    base_mean_loc, base_mean_scale
        Base expression of each gene: ``LogNormal(base_mean_loc, base_mean_scale)``.
    alpha, beta
        Coefficients of the variance ``α_g μ² + β_g μ`` (a number, or one per gene). By default
        ``α_g = exp(N(log 0.2, log 1.5))`` and ``β_g = 1 + exp(N(0, log 1.5))`` as in the PROSSTT
        tutorial. Where ``α_g μ² + β_g μ <= μ`` (possible only with ``β_g < 1``) no negative
        binomial exists: those counts are Poisson and a warning says how many.
    library_sd
        SD of the log-normal size factor of each cell (mean-one on the log scale).
    sampling
        ``"even"``: the same number of cells (±1) at every point of the tree, as PROSSTT's
        ``sample_whole_tree``; ``"random"``: points drawn uniformly at random.
    return_means
        Also store the per-cell true means in ``.layers["true_means"]`` (dense: for small data).
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    AnnData with integer counts (CSR) in ``.X`` and ``.layers["counts"]``;
    ``.obs``: ``branch`` (categorical), ``time`` (integer pseudotime from the root),
    ``library_size`` (the cell's expected total count) and ``size_factor``;
    ``.var``: ``base_mean``, ``alpha``, ``beta``; ``.varm["program_coefficients"]``;
    ``.uns["prosstt"]``: the parameters and the tree (``branches``, ``parents`` with ``""`` for
    the root, ``branch_start``, ``branch_length``) with the ``programs`` of each branch.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.prosstt_tree(n_branch_points=2, n_genes=200, n_cells=500)
    >>> adata.obs["branch"].cat.categories.tolist()
    ['A', 'B', 'C', 'D', 'E']
    >>> small = mg.datasets.prosstt_tree(preset="3-way", n_cells=700, n_genes=300)
    >>> small.obs["branch"].nunique()
    7
    """
    arguments = dict(locals())
    for name in ("preset", "alpha", "beta", "return_means"):
        del arguments[name]
    params = _validate(**apply_preset(prosstt_tree, preset, PROSSTT_PRESETS, arguments))
    rng = np.random.default_rng(params.seed)
    tree = _simulate_tree(rng, params)
    alpha = _per_gene(rng, "alpha", alpha, params.n_genes, default=(np.log(0.2), 0.0))
    beta = _per_gene(rng, "beta", beta, params.n_genes, default=(0.0, 1.0))
    point = _sample_points(rng, params)
    size_factor = rng.lognormal(0.0, params.library_sd, params.n_cells)
    counts, true_means = _draw_counts(
        rng, tree.point_means, point, size_factor, alpha, beta, return_means
    )
    obs = pd.DataFrame(
        {
            "branch": pd.Categorical.from_codes(tree.point_branch[point], tree.names),
            "time": tree.point_time[point],
            "library_size": tree.point_means.sum(axis=1)[point] * size_factor,
            "size_factor": size_factor,
        },
        index=[f"Cell{i + 1}" for i in range(params.n_cells)],
    )
    var = pd.DataFrame(
        {"base_mean": tree.base_mean, "alpha": alpha, "beta": beta},
        index=[f"Gene{i + 1}" for i in range(params.n_genes)],
    )
    adata = AnnData(X=counts, obs=obs, var=var)
    adata.layers["counts"] = counts.copy()
    if true_means is not None:
        adata.layers["true_means"] = true_means
    adata.varm["program_coefficients"] = tree.coefficients
    adata.uns["prosstt"] = {
        **{name: value for name, value in asdict(params).items() if value is not None},
        "branch_length": list(params.branch_length),
        "branches": tree.names,
        "parents": ["" if parent < 0 else tree.names[parent] for parent in tree.parents],
        "branch_start": tree.starts,
        "programs": dict(zip(tree.names, tree.programs, strict=True)),
    }
    return adata


@dataclass(frozen=True)
class _Tree:
    """The simulated tree: topology, programs and the mean of every gene at every point."""

    names: list[str]
    parents: list[int]  # -1 for the root; parents come before their children
    starts: list[int]  # pseudotime of each branch's first step
    programs: list[np.ndarray]  # per branch, (branch_length, n_programs)
    coefficients: np.ndarray  # (n_genes, n_programs)
    base_mean: np.ndarray  # (n_genes,)
    point_branch: np.ndarray  # (n_points,) branch of each point of the tree
    point_time: np.ndarray  # (n_points,) pseudotime of each point
    point_means: np.ndarray  # (n_points, n_genes) mean at size factor 1


def _simulate_tree(rng: np.random.Generator, params: _ProssttParams) -> _Tree:
    parents = _random_topology(rng, params.n_branch_points)
    starts = _branch_starts(parents, params.branch_length)
    programs = _expression_programs(rng, params, parents)
    coefficients = rng.gamma(
        params.coef_shape, params.coef_scale, (params.n_genes, params.n_programs)
    )
    log_relative = np.minimum(np.concatenate(programs) @ coefficients.T, params.max_log_fold)
    base_mean = rng.lognormal(params.base_mean_loc, params.base_mean_scale, params.n_genes)
    point_time = [
        start + np.arange(n) for start, n in zip(starts, params.branch_length, strict=True)
    ]
    return _Tree(
        names=_branch_names(len(parents)),
        parents=parents,
        starts=starts,
        programs=programs,
        coefficients=coefficients,
        base_mean=base_mean,
        point_branch=np.repeat(np.arange(len(parents)), params.branch_length),
        point_time=np.concatenate(point_time),
        point_means=base_mean * np.exp(log_relative),
    )


def _validate(
    *,
    n_branch_points: int,
    n_genes: int,
    n_cells: int,
    branch_length: int | Sequence[int],
    n_programs: int | None,
    coef_shape: float | None,
    sampling: str,
    seed: int | None,
    **scalars: float,
) -> _ProssttParams:
    n_branch_points = check_positive_int(n_branch_points, "n_branch_points", minimum=0)
    n_branches = 2 * n_branch_points + 1
    if np.ndim(branch_length) > 0:
        if len(branch_length) != n_branches:
            raise ValueError(
                f"branch_length has {len(branch_length)} values but the tree has {n_branches} "
                "branches; pass one number or one per branch"
            )
        lengths = tuple(check_positive_int(n, "branch_length[i]") for n in branch_length)
    else:
        lengths = (check_positive_int(branch_length, "branch_length"),) * n_branches
    n_programs = 5 * n_branch_points + 10 if n_programs is None else n_programs
    n_programs = check_positive_int(n_programs, "n_programs")
    coef_shape = min(0.05, 1.0 / n_programs) if coef_shape is None else coef_shape
    if sampling not in ("even", "random"):
        raise ValueError(f"sampling must be 'even' or 'random', got {sampling!r}")
    momentum = check_non_negative(scalars["momentum"], "momentum")
    if momentum >= 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}; pass e.g. momentum=0.8")
    for name in ("step_sd", "base_mean_scale", "library_sd"):
        check_non_negative(scalars[name], name)
    for name in ("max_log_fold", "base_mean_loc"):
        check_real(scalars[name], name)
    return _ProssttParams(
        n_branch_points=n_branch_points,
        n_genes=check_positive_int(n_genes, "n_genes"),
        n_cells=check_positive_int(n_cells, "n_cells"),
        branch_length=lengths,
        n_programs=n_programs,
        coef_shape=check_non_negative(coef_shape, "coef_shape", strict=True),
        coef_scale=check_non_negative(scalars.pop("coef_scale"), "coef_scale", strict=True),
        sampling=sampling,
        seed=seed,
        **{name: float(value) for name, value in scalars.items()},
    )


def _per_gene(
    rng: np.random.Generator,
    name: str,
    value: float | ArrayLike | None,
    n_genes: int,
    default: tuple[float, float],
) -> np.ndarray:
    """A non-negative value per gene; ``None`` draws ``offset + exp(N(log_loc, log 1.5))``."""
    if value is None:
        log_loc, offset = default
        return offset + np.exp(rng.normal(log_loc, np.log(1.5), n_genes))
    values = np.asarray(value, dtype=float)
    if values.ndim == 0:
        values = np.full(n_genes, float(values))
    if values.shape != (n_genes,) or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            f"{name} must be a non-negative number or {n_genes} non-negative numbers (one per "
            f"gene), got shape {values.shape}"
        )
    return values.copy()


def _random_topology(rng: np.random.Generator, n_branch_points: int) -> list[int]:
    """Parent of each branch (-1 for the root); a random leaf splits in two at each point."""
    parents, leaves = [-1], [0]
    for _ in range(n_branch_points):
        leaf = leaves.pop(int(rng.integers(len(leaves))))
        children = [len(parents), len(parents) + 1]
        parents.extend([leaf, leaf])
        leaves.extend(children)
    return parents


def _branch_starts(parents: Sequence[int], lengths: Sequence[int]) -> list[int]:
    """Pseudotime of the first step of each branch: its parent's end (parents come first)."""
    starts: list[int] = []
    for parent in parents:
        starts.append(0 if parent < 0 else starts[parent] + lengths[parent])
    return starts


def _expression_programs(
    rng: np.random.Generator, params: _ProssttParams, parents: Sequence[int]
) -> list[np.ndarray]:
    """Programs of each branch, ``(branch_length, n_programs)``: log-space walks with momentum.

    ``v_t = momentum * v_{t-1} + N(0, step_sd²)`` and ``h_t = h_{t-1} + v_t``; the root starts
    at ``h = 0`` with a stationary velocity, a child from its parent's last position and
    velocity, so each lineage is one unbroken walk.
    """
    stationary_sd = params.step_sd / np.sqrt(1.0 - params.momentum**2)
    origin = (np.zeros(params.n_programs), rng.normal(0.0, stationary_sd, params.n_programs))
    programs: list[np.ndarray] = []
    last_state: list[tuple[np.ndarray, np.ndarray]] = []
    for branch, parent in enumerate(parents):
        position, velocity = origin if parent < 0 else last_state[parent]
        walk = np.empty((params.branch_length[branch], params.n_programs))
        for step in range(params.branch_length[branch]):
            velocity = params.momentum * velocity + rng.normal(
                0.0, params.step_sd, params.n_programs
            )
            position = position + velocity
            walk[step] = position
        programs.append(walk)
        last_state.append((position, velocity))
    return programs


def _sample_points(rng: np.random.Generator, params: _ProssttParams) -> np.ndarray:
    """Index of the tree point (branch, step) of each cell, sorted."""
    n_points = sum(params.branch_length)
    if params.sampling == "even":
        return np.sort(np.arange(params.n_cells) % n_points)
    return np.sort(rng.integers(n_points, size=params.n_cells))


def _draw_counts(
    rng: np.random.Generator,
    point_means: np.ndarray,
    point: np.ndarray,
    size_factor: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    return_means: bool,
) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Negative-binomial counts, variance ``α μ² + β μ`` (Poisson where that is ``<= μ``)."""
    n_cells, n_genes = point.size, point_means.shape[1]
    true_means = np.empty((n_cells, n_genes), np.float32) if return_means else None
    blocks, n_poisson = [], 0
    for begin in range(0, n_cells, _CHUNK_CELLS):
        chunk = slice(begin, min(begin + _CHUNK_CELLS, n_cells))
        mean = point_means[point[chunk]] * size_factor[chunk, None]
        if true_means is not None:
            true_means[chunk] = mean
        excess = alpha * mean**2 + (beta - 1.0) * mean  # variance beyond Poisson
        overdispersed = excess > 0
        n_poisson += int(np.count_nonzero(excess < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = np.where(overdispersed, mean**2 / excess, 1.0)
            scale = np.where(overdispersed, excess / mean, 0.0)
        rate = np.where(overdispersed, rng.gamma(shape, scale), mean)
        blocks.append(sp.csr_matrix(rng.poisson(rate).astype(np.int32)))
    if n_poisson:
        warnings.warn(
            f"{n_poisson} of {n_cells * n_genes} means have α μ² + β μ < μ, where no negative "
            "binomial exists; their counts are Poisson. Pass beta >= 1 to avoid this.",
            UserWarning,
            stacklevel=3,
        )
    return sp.vstack(blocks, format="csr"), true_means


def _branch_names(n_branches: int) -> list[str]:
    if n_branches <= len(string.ascii_uppercase):
        return list(string.ascii_uppercase[:n_branches])
    return [f"B{i}" for i in range(n_branches)]
