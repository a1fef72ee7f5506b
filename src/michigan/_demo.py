"""The main job on built-in data: what ``michigan demo`` runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class DemoOutputs:
    """Where the demo wrote what."""

    adata: Path
    umap: Path


def run_demo(
    out_dir: str | Path = "michigan_demo",
    max_epochs: int = 100,
    n_latent: int = 10,
    beta: float = 10.0,
    seed: int = 0,
    progress_bar: bool = True,
) -> DemoOutputs:
    """Train a β-TCVAE on scanpy's ``pbmc68k_reduced`` and write its results.

    Parameters
    ----------
    out_dir
        Folder for the outputs (created if needed).
    max_epochs
        Training epochs of the β-TCVAE.
    n_latent
        Dimension of the representation.
    beta
        Weight of the total correlation.
    seed
        Seed of :data:`scvi.settings.seed`.
    progress_bar
        Show Lightning's progress bar.

    Returns
    -------
    The paths of the ``.h5ad`` (representation in ``.obsm["X_tcvae"]``) and the UMAP figure.

    Examples
    --------
    >>> from michigan._demo import run_demo
    >>> outputs = run_demo("demo_out", max_epochs=20)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc
    import scvi

    from . import datasets
    from .model import TCVAE

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scvi.settings.seed = seed

    adata = datasets.pbmc68k()
    TCVAE.setup_anndata(adata, layer="counts")
    model = TCVAE(adata, n_latent=n_latent, beta=beta)
    model.train(max_epochs=max_epochs, enable_progress_bar=progress_bar)

    latent = model.get_latent_representation()
    adata.obsm["X_tcvae"] = latent
    adata.uns["tcvae"] = {"n_latent": n_latent, "beta": beta, "max_epochs": max_epochs}
    latent_columns = [f"tcvae_{j}" for j in range(n_latent)]
    for j, column in enumerate(latent_columns):
        adata.obs[column] = latent[:, j].astype(np.float32)

    sc.pp.neighbors(adata, use_rep="X_tcvae", random_state=seed)
    sc.tl.umap(adata, random_state=seed)
    colors = ["bulk_labels", *latent_columns]
    figure = sc.pl.umap(adata, color=colors, ncols=4, show=False, return_fig=True)
    umap_path = out / "umap_latents.png"
    figure.savefig(umap_path, dpi=80, bbox_inches="tight")
    plt.close(figure)

    adata_path = out / "pbmc68k_tcvae.h5ad"
    adata.write_h5ad(adata_path)
    return DemoOutputs(adata=adata_path, umap=umap_path)
