"""The data sets of the paper's benchmark, at CPU sizes or at the paper's sizes."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from anndata import AnnData
from scipy import sparse

from .._normalize import log_normalize

#: Cells × genes of the simulations at CPU budgets (minutes per model on 2 cores).
CPU_SIZE = (5_000, 1_000)
#: Cells × genes of the paper's Splatter simulations.
PAPER_SIZE = (10_000, 2_000)


@dataclass(frozen=True)
class BenchmarkPreset:
    """A named data set of the benchmark and how to score it.

    Attributes
    ----------
    name
        The preset's name (``run(preset=name)``).
    description
        One line for tables and logs.
    factors
        Ground-truth ``.obs`` columns that disentanglement is scored against.
    beta
        Weight of the total correlation of the β-TCVAE (the paper's value for such data).
    labels_key
        ``.obs`` column of cell types for the inception score (real data), or ``None``.
    load
        ``load(n_cells, n_genes, seed, path, paper_sizes)`` returns the AnnData (counts in
        ``.layers["counts"]``); ``None`` sizes mean the preset's own.
    needs_path
        The data are read from a local file (``path=``).
    """

    name: str
    description: str
    factors: tuple[str, ...]
    beta: float
    labels_key: str | None
    load: Callable[..., AnnData]
    needs_path: bool = False


def _sizes(n_cells, n_genes, paper_sizes: bool, paper=PAPER_SIZE) -> tuple[int, int]:
    default = paper if paper_sizes else CPU_SIZE
    return (default[0] if n_cells is None else n_cells, default[1] if n_genes is None else n_genes)


def _splatter(kind: str) -> Callable[..., AnnData]:
    def load(n_cells, n_genes, seed, path, paper_sizes):
        from ..datasets import splatter_paths

        n_cells, n_genes = _sizes(n_cells, n_genes, paper_sizes)
        return splatter_paths(n_cells=n_cells, n_genes=n_genes, preset=kind, seed=seed)

    return load


def _prosstt(points: int) -> Callable[..., AnnData]:
    def load(n_cells, n_genes, seed, path, paper_sizes):
        from ..datasets import PROSSTT_PRESETS, prosstt_tree

        paper = PROSSTT_PRESETS[f"{points}-way"]
        n_cells, n_genes = _sizes(
            n_cells, n_genes, paper_sizes, (paper["n_cells"], paper["n_genes"])
        )
        return prosstt_tree(preset=f"{points}-way", n_cells=n_cells, n_genes=n_genes, seed=seed)

    return load


def _pbmc68k(n_cells, n_genes, seed, path, paper_sizes):
    from ..datasets import pbmc68k

    adata = pbmc68k()
    return _subset(adata, n_cells, n_genes, seed)


def _kang(n_cells, n_genes, seed, path, paper_sizes):
    from ..datasets import kang_pbmc

    adata = kang_pbmc(path)
    n_genes = (PAPER_SIZE if paper_sizes else CPU_SIZE)[1] if n_genes is None else n_genes
    return _subset(adata, n_cells, n_genes, seed)


def _subset(adata: AnnData, n_cells: int | None, n_genes: int | None, seed: int) -> AnnData:
    """At most ``n_cells`` random cells and the ``n_genes`` most variable genes (log scale)."""
    if n_cells is not None and n_cells < adata.n_obs:
        rows = np.sort(np.random.default_rng(seed).choice(adata.n_obs, n_cells, replace=False))
        adata = adata[rows]
    if n_genes is not None and n_genes < adata.n_vars:
        counts = sparse.csr_matrix(adata.layers["counts"], dtype=np.float64)
        scaled = log_normalize(counts, dtype=np.float64)
        mean = np.asarray(scaled.mean(axis=0)).ravel()
        variance = np.asarray(scaled.multiply(scaled).mean(axis=0)).ravel() - mean**2
        genes = np.sort(np.argsort(-variance, kind="stable")[:n_genes])
        adata = adata[:, genes]
    return adata.copy()


#: The benchmark's data sets: the paper's two Splatter set-ups, its three PROSSTT trees, and
#: two real sets scored on their annotations. β is the paper's per data type (10 on Splatter,
#: 50 on PROSSTT); the real sets use 10 (pbmc68k, 700 cells) and 50 (Kang).
PRESETS = MappingProxyType(
    {
        "splatter_linear": BenchmarkPreset(
            "splatter_linear",
            "Splatter paths, linear steps (2 batches, 2 paths, 20 steps)",
            ("batch", "path", "step", "library_size"),
            10.0,
            None,
            _splatter("linear"),
        ),
        "splatter_nonlinear": BenchmarkPreset(
            "splatter_nonlinear",
            "Splatter paths, non-linear steps (2 batches, 2 paths, 20 steps)",
            ("batch", "path", "step", "library_size"),
            10.0,
            None,
            _splatter("nonlinear"),
        ),
        **{
            f"prosstt_{points}": BenchmarkPreset(
                f"prosstt_{points}",
                f"PROSSTT tree with {points} branch points",
                ("branch", "time", "library_size"),
                50.0,
                None,
                _prosstt(points),
            )
            for points in (3, 4, 5)
        },
        "pbmc68k": BenchmarkPreset(
            "pbmc68k",
            "scanpy's pbmc68k_reduced (700 PBMCs, counts rebuilt), bulk_labels as factor",
            ("bulk_labels",),
            10.0,
            "bulk_labels",
            _pbmc68k,
        ),
        "kang": BenchmarkPreset(
            "kang",
            "Kang et al. 2018 PBMCs, control vs IFN-β (a local .h5ad)",
            ("condition", "cell_type"),
            50.0,
            "cell_type",
            _kang,
            needs_path=True,
        ),
    }
)


def load_preset(
    name: str,
    *,
    paper_sizes: bool = False,
    n_cells: int | None = None,
    n_genes: int | None = None,
    seed: int = 0,
    path: str | os.PathLike | None = None,
) -> tuple[BenchmarkPreset, AnnData]:
    """The preset and its data, with raw counts in ``.layers["counts"]``.

    Parameters
    ----------
    name
        A key of :data:`PRESETS`.
    paper_sizes
        The paper's sizes (10,000 cells × 2,000 genes; PROSSTT's 10,500–11,000 cells) instead
        of the CPU sizes (5,000 × 1,000).
    n_cells, n_genes
        Override the sizes (real sets: a random subset of cells, the most variable genes).
    seed
        Seed of the simulation (or of the cell subset).
    path
        Local file of a real set (``"kang"``).

    Returns
    -------
    The :class:`BenchmarkPreset` and the AnnData.

    Examples
    --------
    >>> from michigan.benchmark import load_preset
    >>> preset, adata = load_preset("splatter_nonlinear", n_cells=300, n_genes=50)
    >>> preset.factors
    ('batch', 'path', 'step', 'library_size')
    """
    preset = get_preset(name)
    if preset.needs_path and path is None:
        raise ValueError(
            f"preset {name!r} reads a local file: pass path=... (e.g. "
            "'../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad'), or --path on the command line"
        )
    for label, value in (("n_cells", n_cells), ("n_genes", n_genes)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 10):
            raise ValueError(f"{label} must be an integer of at least 10, got {value!r}")
    adata = preset.load(n_cells, n_genes, seed, path, paper_sizes)
    if "counts" not in adata.layers:
        adata.layers["counts"] = adata.X.copy()
    return preset, adata


def get_preset(name: str) -> BenchmarkPreset:
    """The :class:`BenchmarkPreset` called ``name``, or an error listing the presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
