"""``view_anndata_setup`` works with the installed rich (scvi-tools 1.4 with rich 15)."""

from __future__ import annotations

import michigan as mg

from _helpers import clustered_counts


def test_view_anndata_setup_prints_the_setup_arguments(capsys):
    adata = clustered_counts(n_cells=30, n_genes=8)
    mg.TCVAE.setup_anndata(adata, layer="counts", labels_key="cluster")
    model = mg.TCVAE(adata, n_latent=2, n_hidden=(8,))
    model.view_anndata_setup()
    printed = capsys.readouterr().out
    assert "TCVAE.setup_anndata" in printed
    assert "'labels_key': 'cluster'" in printed
    model.view_anndata_setup(adata, hide_state_registries=True)
    assert "'layer': 'counts'" in capsys.readouterr().out
