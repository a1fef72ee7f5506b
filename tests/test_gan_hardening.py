"""Faults of the GAN models that once gave silent wrong results or unclear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from anndata import AnnData
from lightning.pytorch import Callback

import michigan as mg

from _helpers import QUIET_GAN, TINY_GAN, one_quiet_thread

TINY_TCVAE = {"n_latent": 3, "n_hidden": (16,)}


@pytest.fixture(autouse=True)
def _setting():
    with one_quiet_thread():
        yield


def _counts(n_cells: int = 64, n_genes: int = 12, seed: int = 0) -> AnnData:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(2.0, 2.0, size=(1, n_genes)), size=(n_cells, n_genes))
    adata = AnnData(
        counts.astype(np.float32),
        obs=pd.DataFrame(index=[f"cell-{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]),
    )
    adata.layers["counts"] = adata.X.copy()
    adata.obsm["X_code"] = rng.normal(size=(n_cells, 2)).astype(np.float32)
    return adata


def _gan(adata: AnnData, **kwargs) -> mg.MichiGAN:
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    return mg.MichiGAN(adata, representation="X_code", **TINY_GAN, **kwargs)


def test_a_second_train_trains_the_networks_in_training_mode():
    scvi.settings.seed = 0
    model = _gan(_counts())
    model.train(max_steps=2, batch_size=16, **QUIET_GAN)
    assert not model.module.training  # scvi-tools leaves a trained model in eval mode
    modes = []

    class Modes(Callback):
        def on_train_batch_start(self, trainer, plan, batch, batch_idx):
            modes.append(plan.module.generator.training and plan.module.critic.training)

    model.train(max_steps=2, batch_size=16, callbacks=[Modes()], **QUIET_GAN)
    assert modes and all(modes)


def test_too_little_data_is_refused_before_training():
    model = _gan(_counts(n_cells=2))
    with pytest.raises(ValueError, match="cells"):
        model.train(max_steps=2, batch_size=16, **QUIET_GAN)
    assert not model.is_trained


def test_a_foreign_tcvae_folder_is_an_error(tmp_path):
    scvi.settings.seed = 0
    models = []
    for seed in (0, 1):
        adata = _counts(seed=0)
        mg.MichiGAN.setup_anndata(adata, layer="counts")
        scvi.settings.seed = seed
        model = mg.MichiGAN(adata, tcvae_kwargs=TINY_TCVAE, **TINY_GAN)
        model.train(max_steps=2, max_epochs_tcvae=1, batch_size=16, **QUIET_GAN)
        model.save(tmp_path / f"m{seed}", save_anndata=True)
        models.append(model)
    mg.MichiGAN.load(tmp_path / "m0")  # its own β-TCVAE loads
    shutil.rmtree(tmp_path / "m0" / "tcvae")
    shutil.copytree(tmp_path / "m1" / "tcvae", tmp_path / "m0" / "tcvae")
    with pytest.raises(ValueError, match="another β-TCVAE"):
        mg.MichiGAN.load(tmp_path / "m0")
    shutil.rmtree(tmp_path / "m0" / "tcvae")
    with pytest.raises(FileNotFoundError, match="tcvae"):
        mg.MichiGAN.load(tmp_path / "m0")


def test_generate_checks_batch_size_and_refuses_to_write_into_a_view():
    scvi.settings.seed = 0
    adata = _counts()
    model = _gan(adata)
    model.train(max_steps=2, batch_size=16, **QUIET_GAN)
    with pytest.raises(ValueError, match="batch_size"):
        model.generate(n_samples=4, batch_size=0)
    view = adata[:10]
    with pytest.raises(ValueError, match="view"):
        model.generate(adata=view, inplace=True)
    assert "michigan_generated" not in adata.layers


def test_unknown_output_activation_names_the_choices():
    adata = _counts()
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    with pytest.raises(ValueError, match=r"output_activation 'tanh'; choose one of .*None"):
        mg.MichiGAN(adata, representation="X_code", output_activation="tanh", **TINY_GAN)


def test_negative_gradient_penalty_weight_is_refused():
    model = _gan(_counts())
    with pytest.raises(ValueError, match="gp_lambda"):
        model.train(max_steps=2, batch_size=16, gp_lambda=-10, **QUIET_GAN)


def test_a_resumed_gan_run_equals_the_uninterrupted_one(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def run(**kwargs):
        scvi.settings.seed = 0
        model = _gan(_counts())
        model.train(batch_size=16, n_critic=2, **QUIET_GAN, **kwargs)
        return {k: v.clone() for k, v in model.module.state_dict().items()}

    uninterrupted = run(max_epochs=4, max_steps=None)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    run(max_epochs=2, max_steps=None, callbacks=[checkpoint])
    resumed = run(max_epochs=4, max_steps=None, ckpt_path=str(tmp_path / "last.ckpt"))
    for key, value in uninterrupted.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)
