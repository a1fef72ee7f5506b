"""The count head's starting dispersion: the noise of cells around cells in the same state."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import michigan as mg
from michigan.model._count_dispersion import DISPERSION_RANGE, neighbourhood_dispersion

from _helpers import (
    QUIET_GAN,
    TINY_GAN,
    assert_unchanged,
    clustered_counts,
    one_quiet_thread,
    snapshot,
)


@pytest.fixture(autouse=True)
def _quiet_one_thread():
    with one_quiet_thread():
        yield


def _two_states(theta: float | None, seed: int = 0, n_cells: int = 4000, n_genes: int = 50):
    """Counts around two states' means: negative binomial with ``theta``, or Poisson."""
    rng = np.random.default_rng(seed)
    states = rng.integers(2, size=n_cells)
    means = np.where(states[:, None] == 0, 5.0, 40.0) * np.ones((1, n_genes))
    if theta is None:
        return rng.poisson(means), states[:, None].astype(float)
    return rng.negative_binomial(theta, theta / (theta + means)), states[:, None].astype(float)


@pytest.mark.parametrize("theta", [2.0, 8.0])
def test_the_dispersion_around_each_state_is_recovered(theta):
    counts, states = _two_states(theta)
    estimate = neighbourhood_dispersion(counts, states)
    assert estimate.shape == (counts.shape[1],)
    assert abs(np.median(estimate) / theta - 1) < 0.25
    # Around one profile for all cells the differences between the states count as noise.
    mean, variance = counts.mean(0), counts.var(0)
    assert np.median(mean**2 / (variance - mean)) < theta / 2


def test_poisson_counts_get_the_nearly_poisson_end_of_the_range():
    counts, states = _two_states(None)
    estimate = neighbourhood_dispersion(counts, states)
    assert np.median(estimate) > 50
    assert estimate.max() <= DISPERSION_RANGE[1] and estimate.min() >= DISPERSION_RANGE[0]


def test_sparse_and_dense_counts_give_the_same_dispersion():
    counts, states = _two_states(4.0, n_cells=600, n_genes=10)
    np.testing.assert_allclose(
        neighbourhood_dispersion(sparse.csr_matrix(counts), states),
        neighbourhood_dispersion(counts, states),
    )


def test_mismatched_cells_are_refused():
    counts, states = _two_states(4.0, n_cells=100, n_genes=5)
    with pytest.raises(ValueError, match="one row per cell"):
        neighbourhood_dispersion(counts, states[:50])


def _wgan(adata, **kwargs):
    mg.WGANGP.setup_anndata(adata, layer="counts")
    return mg.WGANGP(adata, **TINY_GAN, **kwargs)


def test_training_starts_the_count_head_at_the_neighbourhood_dispersion(monkeypatch):
    adata = clustered_counts(n_cells=400, n_genes=20)
    model = _wgan(adata)
    calls = []
    start = type(model)._start_count_dispersion

    def counted(self):
        calls.append(1)
        start(self)

    monkeypatch.setattr(type(model), "_start_count_dispersion", counted)
    model.train(max_steps=1, **QUIET_GAN)
    started = model.module.dispersion.detach().numpy()
    cells = np.arange(adata.n_obs)
    counts = adata.layers["counts"]
    expected = neighbourhood_dispersion(counts, model._cell_states(cells, counts))
    # One generator step of Adam (lr 1e-4) moves log θ by at most about 1e-4.
    np.testing.assert_allclose(np.log(started), np.log(expected), atol=1e-3)
    model.train(max_steps=1, **QUIET_GAN)  # continued training keeps what it learned
    assert len(calls) == 1


def test_michigan_finds_the_neighbours_in_its_codes():
    adata = clustered_counts(n_cells=200, n_genes=20)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(adata, tcvae_kwargs={"n_latent": 3, "n_hidden": (16,)}, **TINY_GAN)
    model.train(max_steps=1, max_epochs_tcvae=1, batch_size=32, **QUIET_GAN)
    cells = np.arange(adata.n_obs)
    np.testing.assert_array_equal(model._cell_states(cells, None), model.codes_)


def test_a_fixed_start_is_kept_and_saved(tmp_path):
    adata = clustered_counts(n_cells=200, n_genes=20)
    model = _wgan(adata, count_dispersion=3.0)
    model.train(max_steps=1, **QUIET_GAN)
    np.testing.assert_allclose(model.module.dispersion.detach().numpy(), 3.0, rtol=1e-3)
    model.save(tmp_path / "model")
    loaded = mg.WGANGP.load(tmp_path / "model", adata=adata)
    assert loaded.init_params_["kwargs"]["network_kwargs"]["count_dispersion"] == 3.0
    np.testing.assert_array_equal(
        loaded.module.dispersion.detach().numpy(), model.module.dispersion.detach().numpy()
    )


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [("global", ValueError, "'neighbours' or a positive number"), (-1.0, ValueError, "> 0")],
)
def test_a_bad_count_dispersion_is_refused_and_leaves_the_data_alone(value, error, match):
    adata = clustered_counts(n_cells=50, n_genes=10)
    mg.WGANGP.setup_anndata(adata, layer="counts")
    before = snapshot(adata)
    with pytest.raises(error, match=match):
        mg.WGANGP(adata, **TINY_GAN, count_dispersion=value)
    assert_unchanged(adata, before)
