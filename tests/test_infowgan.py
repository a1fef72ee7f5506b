"""InfoWGAN-GP: the Q-head learns the code; the semi-supervised term; argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan.module import InfoCritic, InfoGANModule

SMALL = {"generator_hidden": (32, 32), "critic_hidden": (64, 32), "dropout_rate": 0.0}


def _toy(n_cells: int = 256, n_genes: int = 20, seed: int = 0) -> AnnData:
    """Counts whose profile moves with one continuous factor ``t``."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(size=n_cells)
    loadings = rng.normal(size=n_genes)
    means = 20 * np.exp(np.outer(t - 0.5, 2 * loadings))
    adata = AnnData(sparse.csr_matrix(rng.poisson(means).astype(np.float32)))
    adata.obs["t"] = t
    adata.layers["counts"] = adata.X.copy()
    return adata


def test_infocritic_shares_its_body():
    critic = InfoCritic(n_input=12, n_code=3, n_hidden=(16,))
    x = torch.randn(5, 12)
    score, code = critic.score_and_code(x)
    assert score.shape == (5,) and code.shape == (5, 3)
    torch.testing.assert_close(score, critic(x))
    torch.testing.assert_close(code, critic.predict_code(x))
    assert any(p is critic.q_head.weight for p in critic.parameters())


def test_module_draws_prior_codes():
    module = InfoGANModule(n_genes=12, n_code=3, n_noise=5, critic_hidden=(16,))
    x, code = module.get_data_and_code({"X": torch.ones(8, 12)})
    assert x.shape == (8, 12) and code.shape == (8, 3)


def test_q_recovers_the_code_better_than_chance():
    adata = _toy()
    mg.InfoWGANGP.setup_anndata(adata, layer="counts")
    model = mg.InfoWGANGP(adata, n_code=2, n_noise=4, info_weight=2.0, **SMALL)
    model.train(
        max_epochs=3,
        batch_size=32,
        n_critic=2,
        lr_generator=2e-3,
        lr_critic=2e-3,
        accelerator="cpu",
        enable_progress_bar=False,
    )
    assert "info_loss_train" in model.history
    cells = model.generate(n_samples=300, seed=1)
    assert cells.shape == (300, adata.n_vars)
    assert np.all(cells.X >= 0)
    with torch.inference_mode():
        predicted = model.module.critic.predict_code(torch.as_tensor(cells.X)).numpy()
    codes = cells.obsm["X_michigan"]
    correlation = [abs(np.corrcoef(predicted[:, j], codes[:, j])[0, 1]) for j in range(2)]
    # Independent codes and predictions of 300 cells: |r| < 0.15 with probability ~0.99;
    # 4 epochs gave |r| > 0.9 for three seeds.
    assert min(correlation) > 0.4, correlation
    real_codes = model.get_latent_representation()
    assert real_codes.shape == (adata.n_obs, 2) and np.isfinite(real_codes).all()


def test_semi_supervised_targets_and_training():
    adata = _toy(n_cells=128, seed=3)  # not the labelled cells' stream (seed 0)
    adata.obs.loc[adata.obs_names[:10], "t"] = np.nan
    mg.InfoWGANGP.setup_anndata(adata, layer="counts")
    model = mg.InfoWGANGP(
        adata, n_code=2, n_noise=4, supervised_factors="t", labelled_fraction=0.5, **SMALL
    )
    target, mask = model._targets
    assert target.shape == (128, 1) and mask[:10].sum() == 0
    assert 0.3 < mask.mean() < 0.6
    assert np.isclose(target[mask > 0].std(), 1.0, atol=0.3)
    model.train(max_epochs=1, batch_size=64, accelerator="cpu", enable_progress_bar=False)
    assert np.isfinite(model.history["critic_loss_train"].to_numpy(dtype=float)).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"supervised_factors": ["missing"]}, "missing"),
        ({"n_code": 1, "supervised_factors": ["t", "t2"]}, "n_code"),
        ({"supervised_factors": "t", "labelled_fraction": 0.0}, "labelled_fraction"),
        ({"info_weight": -1.0}, "info_weight"),
    ],
)
def test_bad_arguments(kwargs, message):
    adata = _toy(n_cells=32)
    adata.obs["t2"] = adata.obs["t"]
    mg.InfoWGANGP.setup_anndata(adata, layer="counts")
    with pytest.raises(ValueError, match=message):
        mg.InfoWGANGP(adata, **kwargs)


def test_module_prior_codes_are_standard_normal_and_fresh():
    torch.manual_seed(0)
    module = InfoGANModule(n_genes=12, n_code=3, n_noise=5, critic_hidden=(16,))
    tensors = {"X": torch.ones(4000, 12)}
    _, first = module.get_data_and_code(tensors)
    _, second = module.get_data_and_code(tensors)
    # N(0, I): mean 0 ± 0.05 and SD 1 ± 0.05 over 4000 draws (≥ 3.5 standard errors)
    assert first.mean(0).abs().max() < 0.06 and (first.std(0) - 1).abs().max() < 0.06
    assert not torch.equal(first, second)  # drawn afresh for every minibatch


def test_supervised_term_enters_the_critic_loss_with_its_weight():
    torch.manual_seed(0)
    module = InfoGANModule(
        n_genes=6, n_code=3, n_noise=2, critic_hidden=(8,), supervised_weight=2.5
    ).eval()
    x, fake, code = torch.rand(4, 6), torch.rand(4, 6), torch.randn(4, 3)
    target = torch.tensor([[1.0], [0.0], [-1.0], [0.0]])
    mask = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    predicted = module.critic.predict_code(x)[:, :1]
    expected = ((predicted - target) ** 2 * mask).sum() / mask.sum()

    torch.manual_seed(1)  # the same interpolation for the penalty in both calls
    without = module.critic_loss(x, fake, code, gp_lambda=10.0).loss
    torch.manual_seed(1)
    with_targets = module.critic_loss(x, fake, code, gp_lambda=10.0, target=target, mask=mask)
    assert expected > 0.1
    torch.testing.assert_close(with_targets.loss - without, 2.5 * expected)
    # the targets travel with the minibatch to the loss, by name
    batch = {"X": x, mg.module.GAN_KEYS.INFO_TARGET: target, mg.module.GAN_KEYS.INFO_MASK: mask}
    assert set(module.get_loss_targets(batch)) == {"target", "mask"}
