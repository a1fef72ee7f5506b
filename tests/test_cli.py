"""The ``michigan`` command line."""

from __future__ import annotations

import anndata
import numpy as np
import pytest

from michigan.cli import build_parser, main

from _helpers import clustered_counts


def test_demo_writes_the_representation_and_a_umap(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--max-epochs", "2", "--n-latent", "3"])
    printed = capsys.readouterr().out
    adata_path = tmp_path / "pbmc68k_tcvae.h5ad"
    umap_path = tmp_path / "umap_latents.png"
    assert str(adata_path) in printed and str(umap_path) in printed
    adata = anndata.read_h5ad(adata_path)
    assert adata.obsm["X_tcvae"].shape == (adata.n_obs, 3)
    assert np.isfinite(adata.obsm["X_tcvae"]).all()
    assert umap_path.stat().st_size > 10_000
    collapsed = adata.uns["tcvae_latent_activity"]["collapsed"]
    names = ", ".join(str(j) for j in collapsed) or "none"
    report = (tmp_path / "report.html").read_text()
    assert f"latents collapsed to the prior (KL &lt; 0.1 nats)</th><td>{names} (of 3)" in report


def test_train_command_writes_the_representation(tmp_path):
    data = clustered_counts(n_cells=80, n_genes=12)
    data.write_h5ad(tmp_path / "in.h5ad")
    main(
        [
            "train",
            str(tmp_path / "in.h5ad"),
            str(tmp_path / "out.h5ad"),
            "--n-latent",
            "2",
            "--max-epochs",
            "1",
            "--save-model",
            str(tmp_path / "model"),
        ]
    )
    out = anndata.read_h5ad(tmp_path / "out.h5ad")
    assert out.obsm["X_tcvae"].shape == (80, 2)
    assert (tmp_path / "model" / "model.pt").exists()


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fly"])
