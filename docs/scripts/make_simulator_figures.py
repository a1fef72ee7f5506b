"""Make the UMAP figures of docs/simulators.md (one PNG per preset, into docs/_static/).

Run once from the repository root: ``python docs/scripts/make_simulator_figures.py``. Each preset
is simulated at full size; a random 4,000 of its cells are embedded (normalize_total, log1p,
50 PCs, 15 neighbours, UMAP) and coloured by the ground-truth variables. The first UMAP of a
process compiles numba code (about a minute).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc
from anndata import AnnData

from michigan.datasets import prosstt_tree, splatter_paths

STATIC = Path(__file__).resolve().parents[1] / "_static"
N_SHOWN = 4_000
FIGURES = {
    "simulators_splatter_linear.png": (
        lambda: splatter_paths(preset="linear"),
        ["batch", "path", "step", "log10 library size"],
    ),
    "simulators_splatter_nonlinear.png": (
        lambda: splatter_paths(preset="nonlinear"),
        ["batch", "path", "step", "log10 library size"],
    ),
    "simulators_prosstt_3way.png": (
        lambda: prosstt_tree(preset="3-way"),
        ["branch", "time", "log10 library size"],
    ),
    "simulators_prosstt_4way.png": (
        lambda: prosstt_tree(preset="4-way"),
        ["branch", "time", "log10 library size"],
    ),
    "simulators_prosstt_5way.png": (
        lambda: prosstt_tree(preset="5-way"),
        ["branch", "time", "log10 library size"],
    ),
}


def embed(adata: AnnData, seed: int = 0) -> AnnData:
    """A random ``N_SHOWN`` cells with a UMAP of their log-normalised counts."""
    keep = np.sort(np.random.default_rng(seed).choice(adata.n_obs, N_SHOWN, replace=False))
    shown = adata[keep].copy()
    shown.obs["log10 library size"] = np.log10(shown.obs["library_size"])
    sc.pp.normalize_total(shown)
    sc.pp.log1p(shown)
    sc.pp.pca(shown, n_comps=50, random_state=seed)
    sc.pp.neighbors(shown, random_state=seed)
    sc.tl.umap(shown, random_state=seed)
    return shown


def main() -> None:
    sc.settings.verbosity = 0
    for filename, (simulate, colours) in FIGURES.items():
        shown = embed(simulate())
        figure, axes = plt.subplots(1, len(colours), figsize=(3.3 * len(colours), 3.0))
        for axis, colour in zip(axes, colours, strict=True):
            sc.pl.umap(shown, color=colour, ax=axis, show=False, size=6, frameon=False)
        figure.tight_layout()
        figure.savefig(STATIC / filename, dpi=80, pil_kwargs={"optimize": True})
        plt.close(figure)
        print(f"wrote {STATIC / filename} ({(STATIC / filename).stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
