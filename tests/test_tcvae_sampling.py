"""TCVAE.generate: cells drawn from the likelihood, not its mean."""

from __future__ import annotations

import numpy as np
import pytest
import scvi

import michigan as mg
from michigan._normalize import log_normalize
from michigan.model._tcvae_sampling import draw_from_likelihood

from _helpers import assert_unchanged, clustered_counts, snapshot

N_DRAWS = 4000


def _model(gene_likelihood="nb", n_batches=1, layer="counts"):
    adata = clustered_counts(n_cells=200, n_genes=30, n_batches=n_batches)
    if gene_likelihood == "normal":
        adata.layers["log"] = log_normalize(adata.layers["counts"].toarray())
        layer = "log"
    batch_key = "batch" if n_batches > 1 else None
    mg.TCVAE.setup_anndata(adata, layer=layer, batch_key=batch_key)
    scvi.settings.seed = 0
    model = mg.TCVAE(adata, n_latent=3, n_hidden=(16,), gene_likelihood=gene_likelihood)
    model.train(max_epochs=1, batch_size=64, enable_progress_bar=False)
    return model, adata


@pytest.fixture(scope="module")
def nb_model():
    return _model("nb", n_batches=2)


@pytest.fixture(scope="module", params=["nb", "zinb", "poisson"])
def count_model(request):
    return _model(request.param)


def test_counts_are_non_negative_integers_with_zeros_and_log_normalised_x(count_model):
    model, _ = count_model
    cells = model.generate(n_samples=300, seed=0)
    counts = cells.layers["counts"]
    assert counts.shape == (300, 30)
    assert np.all(counts >= 0)
    np.testing.assert_array_equal(counts, np.round(counts))
    assert (counts == 0).any() and (counts > 0).any()
    np.testing.assert_array_equal(cells.obs["library_size"], counts.sum(axis=1))
    totals = np.expm1(np.asarray(cells.X, dtype=np.float64)).sum(axis=1)
    np.testing.assert_allclose(totals[counts.sum(axis=1) > 0], 1e4, rtol=1e-3)
    assert cells.obsm["X_michigan"].shape == (300, 3)
    assert set(cells.obs["generated_from"]) == {"prior"}


def _expected(model, code, library, batch=0):
    parameters = model._likelihood_parameters(
        np.asarray(code)[None], np.array([batch]), np.array([library]), 1
    )
    return parameters


def test_mean_of_many_draws_matches_the_decoder_mean(count_model):
    model, _ = count_model
    gene_likelihood = model.module.gene_likelihood
    code, library = np.array([0.3, -0.5, 1.0]), 500.0
    cells = model.generate(codes=code, n_samples=N_DRAWS, library_size=library, seed=1)
    decoded = model.decode(code[None], library_size=library)[0]
    parameters = _expected(model, code, library)
    np.testing.assert_allclose(parameters["mean"][0], decoded, rtol=1e-4)
    expected = decoded.astype(np.float64)
    variance = expected.copy()
    if gene_likelihood in ("nb", "zinb"):
        variance = expected + expected**2 / parameters["theta"]
    if gene_likelihood == "zinb":
        keep = 1 - parameters["dropout"][0]
        variance = keep * variance + keep * (1 - keep) * expected**2
        expected = keep * expected
    standard_error = np.sqrt(variance / N_DRAWS)
    gap = np.abs(cells.layers["counts"].mean(axis=0) - expected)
    assert np.all(gap <= 5 * standard_error + 1e-6), (gap / standard_error).max()


def test_normal_likelihood_draws_around_the_decoder_output_without_counts():
    model, _ = _model("normal")
    code = np.zeros(3)
    cells = model.generate(codes=code, n_samples=N_DRAWS, seed=0)
    assert "counts" not in cells.layers
    scale = model._likelihood_parameters(code[None], np.array([0]), np.array([1.0]), 1)["scale"]
    decoded = model.decode(code[None])[0]
    gap = np.abs(np.asarray(cells.X).mean(axis=0) - decoded)
    assert np.all(gap <= 5 * scale / np.sqrt(N_DRAWS))
    with pytest.raises(ValueError, match="library_size applies to the count likelihoods"):
        model.generate(n_samples=5, library_size=100.0)


def test_seeds_reproduce_and_differ(nb_model):
    model, adata = nb_model
    first = model.generate(n_samples=50, seed=7)
    again = model.generate(n_samples=50, seed=7)
    other = model.generate(n_samples=50, seed=8)
    np.testing.assert_array_equal(first.layers["counts"], again.layers["counts"])
    np.testing.assert_array_equal(first.obsm["X_michigan"], again.obsm["X_michigan"])
    assert not np.array_equal(first.layers["counts"], other.layers["counts"])
    assert first.uns["michigan"]["seed"] == 7
    twins = model.generate(adata=adata, seed=3)
    np.testing.assert_array_equal(
        twins.layers["counts"], model.generate(adata=adata, seed=3).layers["counts"]
    )


def test_posterior_predictive_follows_each_cell(nb_model):
    model, adata = nb_model
    before = snapshot(adata)
    twins = model.generate(adata=adata, give_mean=True, seed=0)
    assert_unchanged(adata, before)
    np.testing.assert_array_equal(twins.obs["source_cell"], adata.obs_names)
    np.testing.assert_allclose(
        twins.obsm["X_michigan"], model.get_latent_representation(), rtol=1e-5, atol=1e-6
    )
    # the posterior means give every cell its own library: totals follow the real ones
    real_totals = np.asarray(adata.layers["counts"].sum(axis=1)).ravel()
    assert np.corrcoef(real_totals, twins.obs["library_size"])[0, 1] > 0.5
    draws = model.generate(adata=adata, seed=0)
    assert not np.allclose(draws.obsm["X_michigan"], twins.obsm["X_michigan"])


def test_library_sizes_and_batches_from_the_training_cells(nb_model):
    model, adata = nb_model
    cells = model.generate(n_samples=2000, seed=0, library_size=[50.0] * 2000)
    assert cells.obs["library_size"].mean() == pytest.approx(50, rel=0.1)
    drawn = model.generate(n_samples=2000, seed=0)
    real_totals = np.asarray(adata.layers["counts"].sum(axis=1)).ravel()
    assert drawn.obs["library_size"].mean() == pytest.approx(real_totals.mean(), rel=0.1)
    first, second = (model.generate(n_samples=20, seed=0, batch=b) for b in (0, 1))
    np.testing.assert_array_equal(first.obsm["X_michigan"], second.obsm["X_michigan"])
    assert not np.array_equal(first.layers["counts"], second.layers["counts"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codes": np.zeros((2, 5))}, r"codes must have shape \(n, 3\)"),
        ({"codes": np.full(3, np.nan)}, "NaN or infinite"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 5, "library_size": -1.0}, "library_size must be positive"),
        ({"n_samples": 5, "library_size": [1.0, 2.0]}, "one per generated cell"),
        ({"n_samples": 5, "batch": 4}, "batch must index one of the model's 2"),
        ({"n_samples": 5, "give_mean": True}, "give_mean applies to adata"),
    ],
)
def test_bad_requests_are_named(nb_model, kwargs, message):
    model, _ = nb_model
    with pytest.raises(ValueError, match=message):
        model.generate(**kwargs)


def test_adata_requests_check_their_arguments(nb_model):
    model, adata = nb_model
    with pytest.raises(ValueError, match="not both"):
        model.generate(codes=np.zeros(3), adata=adata)
    with pytest.raises(ValueError, match="drop n_samples"):
        model.generate(adata=adata, n_samples=3)
    with pytest.raises(ValueError, match="gene"):
        model.generate(adata=adata[:, :10].copy())


def test_posterior_predictive_matches_genes_by_name(nb_model):
    model, adata = nb_model
    reordered = adata[:, adata.var_names[::-1]].copy()
    expected = model.generate(adata=adata, give_mean=True, seed=2)
    result = model.generate(adata=reordered, give_mean=True, seed=2)
    np.testing.assert_array_equal(result.var_names, adata.var_names)
    np.testing.assert_array_equal(result.layers["counts"], expected.layers["counts"])


def test_draw_from_likelihood_known_moments():
    rng = np.random.default_rng(0)
    mean = np.full((20_000, 1), 6.0)
    nb = draw_from_likelihood({"mean": mean, "theta": np.array([2.0])}, "nb", rng)
    assert nb.mean() == pytest.approx(6.0, rel=0.03)
    assert nb.var() == pytest.approx(6.0 + 36.0 / 2.0, rel=0.06)
    zinb = draw_from_likelihood(
        {"mean": mean, "theta": np.array([2.0]), "dropout": np.full(mean.shape, 0.5)},
        "zinb",
        rng,
    )
    assert zinb.mean() == pytest.approx(3.0, rel=0.05)
