"""The β-TCVAE model: its loss, training, persistence and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
import torch
from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from torch.distributions import Normal, Poisson

import michigan as mg
from michigan.module import TCVAEModule

from _helpers import clustered_counts

TRAIN_KWARGS = {"enable_progress_bar": False, "batch_size": 64}


def _train(adata, seed=0, max_epochs=3, **model_kwargs):
    scvi.settings.seed = seed
    model = mg.TCVAE(adata, n_latent=4, n_hidden=(32, 16), **model_kwargs)
    model.train(max_epochs=max_epochs, **TRAIN_KWARGS)
    return model


@pytest.fixture(scope="module")
def adata():
    data = clustered_counts(n_cells=300, n_genes=40, n_batches=2)
    mg.TCVAE.setup_anndata(data, layer="counts", batch_key="batch", labels_key="cluster")
    return data


@pytest.fixture(scope="module")
def trained(adata):
    return _train(adata, max_epochs=30)


def _forward(module, x, batch):
    tensors = {"X": x, "batch": batch}
    torch.manual_seed(0)
    inference_outputs, generative_outputs, loss_output = module(
        tensors, loss_kwargs={"n_obs": 1000}
    )
    return tensors, inference_outputs, generative_outputs, loss_output


def _kl_to_prior(qz, z, estimator):
    if estimator == "analytic":
        return torch.distributions.kl_divergence(qz, Normal(0.0, 1.0)).sum(-1)
    return qz.log_prob(z).sum(-1) - Normal(0.0, 1.0).log_prob(z).sum(-1)


@pytest.mark.parametrize("estimator", ["analytic", "monte_carlo"])
def test_unit_weights_give_the_ordinary_vae_loss(estimator):
    module = TCVAEModule(
        n_input=20,
        n_batch=2,
        n_latent=3,
        n_hidden=(16,),
        alpha=1,
        beta=1,
        gamma=1,
        kl_estimator=estimator,
    )
    x = torch.poisson(torch.full((16, 20), 3.0))
    batch = torch.randint(2, (16, 1))
    tensors, inference, generative, loss_output = _forward(module, x, batch)
    z, qz = inference["z"], inference["qz"]
    reconstruction = -generative["px"].log_prob(x).sum(-1)
    kl = _kl_to_prior(qz, z, estimator)
    assert loss_output.loss.item() == pytest.approx((reconstruction + kl).mean().item(), rel=1e-5)
    torch.testing.assert_close(loss_output.kl_local["kl_divergence_z"], kl)

    module.beta = 10.0  # the TC weight: 9 more than the plain VAE's, with either estimator
    weighted = module.loss(tensors, inference, generative, n_obs=1000)
    tc = weighted.extra_metrics["total_correlation"]
    assert weighted.loss.item() == pytest.approx(loss_output.loss.item() + 9 * tc.item(), rel=1e-4)


def test_analytic_and_monte_carlo_kl_agree_in_expectation_with_less_noise():
    x = torch.poisson(torch.full((32, 20), 3.0))
    losses = {}
    for estimator in ("monte_carlo", "analytic"):
        torch.manual_seed(0)
        module = TCVAEModule(n_input=20, n_latent=3, n_hidden=(16,), kl_estimator=estimator)
        module.eval()
        with torch.no_grad():
            module.z_mean.weight.mul_(10.0)  # a posterior far from the prior: KL of several nats
            samples = []
            for _ in range(300):
                inference = module.inference(x)
                generative = module.generative(inference["z"], inference["library"])
                kl = module.loss({"X": x}, inference, generative, n_obs=1000).kl_local
                samples.append(kl["kl_divergence_z"].mean())
        losses[estimator] = torch.stack(samples)
    monte_carlo, analytic = losses["monte_carlo"], losses["analytic"]
    assert analytic.mean().item() > 1.0
    standard_error = monte_carlo.std().item() / len(monte_carlo) ** 0.5
    assert abs(monte_carlo.mean().item() - analytic.mean().item()) < 4 * standard_error
    assert analytic.std().item() < 0.01 * monte_carlo.std().item()


def test_unknown_kl_estimator_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown kl_estimator 'exact'"):
        TCVAEModule(n_input=20, kl_estimator="exact")


@pytest.mark.parametrize(
    ("likelihood", "distribution"),
    [
        ("nb", NegativeBinomial),
        ("zinb", ZeroInflatedNegativeBinomial),
        ("poisson", Poisson),
        ("normal", Normal),
    ],
)
def test_each_likelihood_scores_the_counts_under_its_own_distribution(likelihood, distribution):
    module = TCVAEModule(
        n_input=12, n_latent=2, n_hidden=(8,), gene_likelihood=likelihood, beta=1.0
    )
    x = torch.poisson(torch.full((8, 12), 2.0))
    _, inference, generative, loss_output = _forward(module, x, None)
    px = generative["px"]
    assert type(px) is distribution
    z, qz = inference["z"], inference["qz"]
    reconstruction = -px.log_prob(x).sum(-1)
    kl = _kl_to_prior(qz, z, module.kl_estimator)
    assert loss_output.loss.item() == pytest.approx((reconstruction + kl).mean().item(), rel=1e-5)
    assert set(loss_output.extra_metrics) == {
        "mutual_info",
        "total_correlation",
        "dimension_wise_kl",
    }


def test_zinb_zero_inflation_comes_from_the_dropout_head():
    module = TCVAEModule(n_input=12, n_latent=2, n_hidden=(8,), gene_likelihood="zinb")
    zeros = torch.zeros((8, 12))
    _, _, generative, _ = _forward(module, zeros, None)
    with torch.no_grad():
        module.px_dropout_head.bias.fill_(6.0)  # dropout probability ≈ 1
    _, _, inflated, _ = _forward(module, zeros, None)
    assert (inflated["px"].log_prob(zeros) > generative["px"].log_prob(zeros)).all()
    assert inflated["px"].log_prob(zeros).exp().min() > 0.99


def test_training_lowers_the_loss_and_logs_the_decomposition(trained):
    loss = trained.history["train_loss"].to_numpy().ravel()
    assert loss[-5:].mean() < loss[:3].mean()
    for key in ("mutual_info_train", "total_correlation_train", "dimension_wise_kl_train"):
        assert key in trained.history
        assert np.isfinite(trained.history[key].to_numpy(dtype=float)).all()


def test_representation_lands_in_obsm_and_separates_clusters(adata, trained):
    latent = trained.get_latent_representation()
    assert latent.shape == (adata.n_obs, 4)
    adata.obsm["X_tcvae"] = latent
    assert adata.obsm["X_tcvae"].shape == (adata.n_obs, 4)
    # cells of one cluster sit closer to their own centroid than to the others'
    labels = adata.obs["cluster"].to_numpy()
    centroids = {c: latent[labels == c].mean(0) for c in np.unique(labels)}
    nearest = [min(centroids, key=lambda c, z=z: np.linalg.norm(z - centroids[c])) for z in latent]
    assert np.mean(np.asarray(nearest) == labels) > 0.8


def test_sampled_representation_differs_from_the_mean(trained):
    mean = trained.get_latent_representation(give_mean=True)
    sample = trained.get_latent_representation(give_mean=False)
    assert mean.shape == sample.shape
    assert not np.allclose(mean, sample)


def test_decode_returns_library_scaled_expression(adata, trained):
    codes = trained.get_latent_representation()[:10]
    expression = trained.decode(codes, library_size=1e4)
    assert expression.shape == (10, adata.n_vars)
    np.testing.assert_allclose(expression.sum(1), 1e4, rtol=1e-4)
    assert trained.get_normalized_expression().shape == (adata.n_obs, adata.n_vars)
    with pytest.raises(ValueError, match="codes must have shape"):
        trained.decode(np.zeros((3, 7)))


def test_save_then_load_gives_identical_latent_means(adata, trained, tmp_path):
    trained.save(tmp_path / "model", overwrite=True)
    loaded = mg.TCVAE.load(tmp_path / "model", adata=adata)
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), trained.get_latent_representation()
    )


def test_same_seed_gives_identical_latents(adata):
    first = _train(adata, seed=7).get_latent_representation()
    second = _train(adata, seed=7).get_latent_representation()
    other = _train(adata, seed=8).get_latent_representation()
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_mws_estimator_and_a_dense_matrix_train():
    adata = clustered_counts(n_cells=120, n_genes=15, sparse_format=False)
    mg.TCVAE.setup_anndata(adata)
    model = _train(adata, max_epochs=2, tc_estimator="mws")
    assert model.module.tc_estimator == "mws"
    assert np.isfinite(model.get_latent_representation()).all()
    # the estimator reaches the loss: the two estimates of one minibatch differ
    x = torch.as_tensor(adata.X[:64], dtype=torch.float32)
    tc = {}
    for estimator in ("mws", "mss"):
        model.module.tc_estimator = estimator
        *_, loss_output = _forward(model.module, x, None)
        tc[estimator] = loss_output.extra_metrics["total_correlation"].item()
    assert tc["mws"] != pytest.approx(tc["mss"], rel=1e-3)


def test_analytic_kl_estimator_reaches_the_module_and_trains():
    adata = clustered_counts(n_cells=120, n_genes=15)
    mg.TCVAE.setup_anndata(adata)
    model = _train(adata, max_epochs=2, kl_estimator="analytic")
    assert model.module.kl_estimator == "analytic"
    assert "kl_estimator='analytic'" in model._model_summary_string
    assert np.isfinite(model.get_latent_representation()).all()
    assert np.isfinite(model.history["elbo_train"].to_numpy(dtype=float)).all()
