"""Parameters of the Splatter "paths" simulation, validated once, recorded in ``.uns``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import (
    check_non_negative,
    check_positive_int,
    check_probability,
    check_real,
)
from ._arguments import per_group


@dataclass(frozen=True)
class SplatterParams:
    """Validated parameters of one simulation (what ``.uns["splatter"]`` records)."""

    n_cells: int
    n_genes: int
    n_batches: int
    n_paths: int
    n_steps: int
    batch_cells: tuple[int, ...]
    group_prob: tuple[float, ...]
    path_from: tuple[int, ...]  # -1: the path starts at the origin
    de_prob: tuple[float, ...]
    de_down_prob: tuple[float, ...]
    de_fac_loc: tuple[float, ...]
    de_fac_scale: tuple[float, ...]
    skew: tuple[float, ...]
    nonlinear_prob: float
    sigma_fac: float
    mean_shape: float
    mean_rate: float
    out_prob: float
    out_fac_loc: float
    out_fac_scale: float
    batch_fac_loc: float
    batch_fac_scale: float
    lib_loc: float
    lib_scale: float
    bcv_common: float
    bcv_df: float
    dropout_mid: float | None
    dropout_shape: float
    seed: int | None


def validate_splatter_params(
    *,
    n_cells: int,
    n_genes: int,
    n_batches: int,
    n_paths: int,
    n_steps: int,
    batch_cells: Sequence[int] | None,
    group_prob: Sequence[float] | None,
    path_from: Sequence[int | None] | None,
    de_prob: float | Sequence[float],
    de_down_prob: float | Sequence[float],
    de_fac_loc: float | Sequence[float],
    de_fac_scale: float | Sequence[float],
    skew: float | Sequence[float],
    dropout_mid: float | None,
    seed: int | None,
    **scalars: float,
) -> SplatterParams:
    """Check every argument of :func:`~michigan.datasets.splatter_paths` and normalise it."""
    n_genes = check_positive_int(n_genes, "n_genes")
    n_paths = check_positive_int(n_paths, "n_paths")
    n_steps = check_positive_int(n_steps, "n_steps")
    if batch_cells is None:
        n_cells = check_positive_int(n_cells, "n_cells")
        n_batches = check_positive_int(n_batches, "n_batches")
        if n_batches > n_cells:
            raise ValueError(
                f"n_batches={n_batches} exceeds n_cells={n_cells}; pass fewer batches or "
                "more cells"
            )
        batch_cells = tuple(len(block) for block in np.array_split(np.arange(n_cells), n_batches))
    else:
        batch_cells = tuple(check_positive_int(cells, "batch_cells[i]") for cells in batch_cells)
        if not batch_cells:
            raise ValueError("batch_cells is empty; pass the number of cells of each batch")
        n_cells, n_batches = sum(batch_cells), len(batch_cells)
    if group_prob is None:
        group_prob = (1.0 / n_paths,) * n_paths
    else:
        group_prob = tuple(check_probability(p, "group_prob[i]") for p in group_prob)
        if len(group_prob) != n_paths or not np.isclose(sum(group_prob), 1.0):
            raise ValueError(
                f"group_prob must hold one probability per path ({n_paths}) summing to 1, "
                f"got {list(group_prob)}; pass e.g. group_prob={[round(1 / n_paths, 3)] * n_paths}"
            )
    for name in ("nonlinear_prob", "out_prob"):
        check_probability(scalars[name], name)
    for name in ("sigma_fac", "out_fac_scale", "batch_fac_scale", "lib_scale", "bcv_common"):
        check_non_negative(scalars[name], name)
    for name in ("mean_shape", "mean_rate", "bcv_df"):
        check_non_negative(scalars[name], name, strict=True)
    for name in ("out_fac_loc", "batch_fac_loc", "lib_loc", "dropout_shape"):
        check_real(scalars[name], name)
    return SplatterParams(
        n_cells=n_cells,
        n_genes=n_genes,
        n_batches=n_batches,
        n_paths=n_paths,
        n_steps=n_steps,
        batch_cells=batch_cells,
        group_prob=group_prob,
        path_from=_check_path_from(path_from, n_paths),
        de_prob=_per_path_probability("de_prob", de_prob, n_paths),
        de_down_prob=_per_path_probability("de_down_prob", de_down_prob, n_paths),
        de_fac_loc=tuple(
            check_real(v, "de_fac_loc")
            for v in per_group(de_fac_loc, "de_fac_loc", n_paths, "path")
        ),
        de_fac_scale=tuple(
            check_non_negative(v, "de_fac_scale")
            for v in per_group(de_fac_scale, "de_fac_scale", n_paths, "path")
        ),
        skew=_per_path_probability("skew", skew, n_paths),
        dropout_mid=None if dropout_mid is None else check_real(dropout_mid, "dropout_mid"),
        seed=seed,
        **{name: float(value) for name, value in scalars.items()},
    )


def _per_path_probability(
    name: str, value: float | Sequence[float], n_paths: int
) -> tuple[float, ...]:
    return tuple(check_probability(v, name) for v in per_group(value, name, n_paths, "path"))


def _check_path_from(path_from: Sequence[int | None] | None, n_paths: int) -> tuple[int, ...]:
    """Parents as indices (-1 for the origin), checked to form a forest rooted at the origin."""
    if path_from is None:
        return (-1,) * n_paths
    parents = tuple(-1 if parent is None else parent for parent in path_from)
    if len(parents) != n_paths:
        raise ValueError(
            f"path_from has {len(parents)} entries but n_paths={n_paths}; give the parent of "
            "every path (None for a path that starts at the origin)"
        )
    for child, parent in enumerate(parents):
        if (
            isinstance(parent, bool)
            or not isinstance(parent, int | np.integer)
            or not -1 <= parent < n_paths
        ):
            raise ValueError(
                f"path_from[{child}]={parent!r} is not a path index; use 0 to {n_paths - 1}, or "
                "None for the origin"
            )
        if parent == child:
            raise ValueError(f"path_from[{child}]={child}: a path cannot continue itself")
    if -1 not in parents:
        raise ValueError(
            "path_from has no root: no path starts at the origin; set the parent of at least one "
            "path to None"
        )
    for start in range(n_paths):
        seen, node = {start}, parents[start]
        while node != -1:
            if node in seen:
                raise ValueError(
                    f"path_from has a cycle through path {node}; every chain of parents must end "
                    "at a path that starts at the origin (None)"
                )
            seen.add(node)
            node = parents[node]
    return tuple(int(parent) for parent in parents)
