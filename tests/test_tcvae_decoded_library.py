"""The β-TCVAE with ``decode_library=True``: library size decoded from the code."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
import torch

import michigan as mg
from michigan.module import TCVAEModule

from _helpers import assert_unchanged, clustered_counts, one_quiet_thread, snapshot


def _varied_library_counts(n_cells: int = 400, seed: int = 0):
    """Counts whose cells' totals spread over a factor of about ten (library ~ LogNormal)."""
    adata = clustered_counts(n_cells=n_cells, n_genes=40, seed=seed, sparse_format=False)
    rng = np.random.default_rng(seed)
    scale = rng.lognormal(0.0, 0.7, size=(n_cells, 1))
    counts = rng.poisson(np.asarray(adata.layers["counts"]) * scale).astype(np.float32)
    adata.X = counts
    adata.layers["counts"] = counts.copy()
    return adata


@pytest.fixture(scope="module")
def trained():
    adata = _varied_library_counts()
    mg.TCVAE.setup_anndata(adata, layer="counts")
    with one_quiet_thread():
        scvi.settings.seed = 0
        model = mg.TCVAE(adata, n_latent=4, n_hidden=(32, 16), decode_library=True)
        model.train(max_epochs=40, batch_size=64, enable_progress_bar=False)
    return model


def test_the_decoded_rate_ignores_the_observed_library():
    module = TCVAEModule(n_input=12, n_latent=3, n_hidden=(8,), decode_library=True)
    module.eval()
    z = torch.randn(5, 3)
    small = module.generative(z, torch.full((5, 1), 2.0))["px"].mean
    large = module.generative(z, torch.full((5, 1), 9.0))["px"].mean
    torch.testing.assert_close(small, large)
    observed = TCVAEModule(n_input=12, n_latent=3, n_hidden=(8,))
    observed.eval()
    totals = observed.generative(z, torch.full((5, 1), np.log(500.0)))["px"].mean.sum(-1)
    torch.testing.assert_close(totals, torch.full((5,), 500.0))


def test_the_decoded_library_starts_at_the_mean_log_library():
    adata = _varied_library_counts(n_cells=100)
    mg.TCVAE.setup_anndata(adata, layer="counts")
    model = mg.TCVAE(adata, n_latent=3, n_hidden=(8,), decode_library=True)
    expected = np.log(adata.layers["counts"].sum(1)).mean()
    assert model.module.library_head.bias.item() == pytest.approx(expected, rel=1e-5)
    assert "library size decoded from the code" in model.summary_string


def test_a_latent_carries_library_size_and_twins_keep_their_cells_totals(trained):
    adata = trained.adata
    log_library = np.log(adata.layers["counts"].sum(1))
    codes = trained.get_latent_representation()
    correlation = [abs(np.corrcoef(codes[:, k], log_library)[0, 1]) for k in range(4)]
    assert max(correlation) > 0.8
    twins = trained.generate(adata=adata, give_mean=True, seed=0)
    twin_library = np.log(twins.obs["library_size"].to_numpy().clip(1))
    assert np.corrcoef(twin_library, log_library)[0, 1] > 0.8


def test_save_and_load_keep_the_decoded_library(trained, tmp_path):
    trained.save(tmp_path / "model", overwrite=True)
    loaded = mg.TCVAE.load(tmp_path / "model", adata=trained.adata)
    assert loaded.module.decode_library
    torch.testing.assert_close(loaded.module.library_head.bias, trained.module.library_head.bias)
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), trained.get_latent_representation()
    )


def test_bad_requests_are_named_and_leave_the_data_unchanged(trained):
    with pytest.raises(ValueError, match="decode_library=True\\): drop library_size"):
        trained.generate(n_samples=5, library_size=1e4, seed=0)
    adata = clustered_counts(n_cells=60, n_genes=10)
    adata.layers["log"] = np.log1p(adata.layers["counts"].toarray())
    mg.TCVAE.setup_anndata(adata, layer="log")
    before = snapshot(adata)
    with pytest.raises(ValueError, match="decode_library applies to the count likelihoods"):
        mg.TCVAE(adata, gene_likelihood="normal", decode_library=True)
    assert_unchanged(adata, before)
