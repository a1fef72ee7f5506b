from __future__ import annotations

import copy
import warnings

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import scvi
import torch
from anndata import AnnData
from lightning.pytorch.callbacks import ModelCheckpoint

import michigan as mg
from michigan._normalize import log_normalize

TINY = {"generator_hidden": (16,), "critic_hidden": (16,), "n_features": 4}
TINY_TCVAE = {"n_latent": 3, "n_hidden": (16,)}
QUIET = {"enable_progress_bar": False}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest on one thread (and the CI machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _counts(n_cells: int = 120, n_genes: int = 20, seed: int = 0) -> AnnData:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n_cells)
    rates = rng.gamma(2.0, 2.0, size=(2, n_genes))
    counts = rng.poisson(rates[groups] * rng.uniform(0.5, 1.5, (n_cells, 1))).astype(np.float32)
    obs = pd.DataFrame(
        {"group": pd.Categorical(groups.astype(str))},
        index=[f"cell-{i}" for i in range(n_cells)],
    )
    adata = AnnData(counts, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))
    adata.layers["counts"] = counts.copy()
    return adata


def _state(adata: AnnData) -> tuple:
    """What a failed call must leave as it was."""
    return (
        list(adata.obs.columns),
        sorted(adata.uns.keys()),
        sorted(adata.layers.keys()),
        sorted(adata.obsm.keys()),
        adata.X.copy(),
    )


def _assert_same_state(before: tuple, after: tuple) -> None:
    assert before[:4] == after[:4]
    np.testing.assert_array_equal(before[4], after[4])


@pytest.fixture(scope="module")
def trained():
    scvi.settings.seed = 0
    adata = _counts()
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(adata, code_source="sample", tcvae_kwargs=TINY_TCVAE, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(max_epochs=2, max_epochs_tcvae=2, batch_size=32, **QUIET)
    return model, adata


def test_conditional_generation_follows_the_code_and_wgan_ignores_it():
    scvi.settings.seed = 0
    rng = np.random.default_rng(0)
    n_clusters, n_genes, per_cluster = 3, 6, 100
    centers = np.array([[1, 0], [0, 1], [-1, -1]], dtype=np.float32)
    means = np.full((n_clusters, n_genes), 0.5, dtype=np.float32)
    for c in range(n_clusters):  # each code switches on its own block of genes
        means[c, 2 * c : 2 * c + 2] = 4.0
    labels = np.repeat(np.arange(n_clusters), per_cluster)
    x = means[labels] + 0.2 * rng.standard_normal((len(labels), n_genes)).astype(np.float32)
    adata = AnnData(x)
    adata.obsm["X_code"] = centers[labels]
    networks = {
        "n_noise": 4,
        "log_normalize": False,
        "output_activation": None,
        "generator_hidden": (32, 32),
        "critic_hidden": (32, 32),
        "dropout_rate": 0.0,
        # hiding a fifth of 6 genes hides whole clusters; the default is meant for thousands
        "critic_input_dropout_rate": 0.0,
    }
    fit = {
        "max_epochs": 25,
        "batch_size": 50,
        "n_critic": 1,
        "lr_generator": 3e-3,
        "lr_critic": 3e-3,
        "extrapolation": True,
        **QUIET,
    }
    mg.MichiGAN.setup_anndata(adata)
    model = mg.MichiGAN(adata, representation="X_code", n_features=8, **networks)
    model.train(**fit)
    for c in range(n_clusters):
        generated = model.generate(codes=centers[c], n_samples=200, seed=0).X.mean(0)
        distance = np.abs(generated[None, :] - means).mean(1)
        others = np.delete(distance, c)
        assert distance[c] < 0.5 * others.min(), (c, distance)

    mg.WGANGP.setup_anndata(adata)
    baseline = mg.WGANGP(adata, **networks)
    assert baseline.module.n_code == 0 and baseline.module.critic.embedding is None
    assert baseline.module.generator.hidden[0].in_features == networks["n_noise"]
    with pytest.raises(TypeError):
        baseline.generate(codes=centers[:1])
    baseline.train(**fit)
    cells = baseline.generate(n_samples=300, seed=0).X
    nearest = np.argmin(((cells[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    # one generator for all cells: a mixture of the clusters, not one code's cluster
    assert np.bincount(nearest, minlength=n_clusters).min() > 0.1 * len(cells)


def test_defaults_train_both_stages_and_generate(monkeypatch):
    # the default budget: GAN_MAX_STEPS generator steps (4000: minutes, too long for a test)
    # or GAN_MAX_TIME, whichever comes first; the β-TCVAE's default epochs for 100 cells
    # (1000, to read a million cells) cut to 20 the same way
    monkeypatch.setattr(mg.model._gan_base, "GAN_MAX_STEPS", 12)
    monkeypatch.setattr(mg.model._tcvae, "DEFAULT_MAX_EPOCHS", 20)
    scvi.settings.seed = 0
    adata = _counts(n_cells=100, n_genes=16)
    mg.MichiGAN.setup_anndata(adata)
    model = mg.MichiGAN(adata)
    model.train()
    assert model.tcvae.is_trained and model.is_trained
    assert len(model.tcvae.history["elbo_train"]) == 20
    assert model.module.generator.hidden[0].in_features == 128  # 10 latents + 118 noise
    plan = model.trainer.lightning_module
    assert (plan.generator_steps, plan.critic_steps) == (12, 24)  # n_critic = 2
    assert len(model.history["wasserstein_train"]) == 24  # one minibatch an epoch
    assert int(model.module.average_steps) == 12  # the moving average generates
    assert isinstance(model.module.generator.head, mg.module.CountHead)
    assert model.realism_monitor_.distances  # evaluated at the end of training
    timer = next(c for c in model.trainer.callbacks if isinstance(c, pl.callbacks.Timer))
    assert timer._duration == mg.train.GAN_MAX_TIME.total_seconds() == 600
    cells = model.generate(n_samples=7, seed=0)
    assert cells.shape == (7, 16) and cells.obsm["X_michigan"].shape == (7, 10)
    assert (cells.X >= 0).all()
    np.testing.assert_allclose(np.expm1(cells.X.astype(np.float64)).sum(1), 1e4, rtol=1e-3)
    assert list(cells.var_names) == list(adata.var_names)
    # the GAN is conditioned on the trained β-TCVAE's codes, and the generator uses them
    tcvae_codes = model.tcvae.get_latent_representation()
    np.testing.assert_allclose(model.codes_, tcvae_codes, rtol=1e-5)
    np.testing.assert_allclose(model.get_latent_representation(), tcvae_codes, rtol=1e-5)
    first, second = (model.generate(codes=code, n_samples=5, seed=0) for code in tcvae_codes[:2])
    np.testing.assert_allclose(first.obsm["X_michigan"], np.tile(tcvae_codes[0], (5, 1)))
    assert np.abs(first.X - second.X).max() > 1e-3


def test_max_steps_counts_generator_steps_and_max_time_reaches_lightning():
    adata = _counts(n_cells=60)
    mg.WGANGP.setup_anndata(adata, layer="counts")
    model = mg.WGANGP(adata, **TINY)
    model.train(max_steps=5, max_time={"minutes": 1}, batch_size=16, n_critic=3, **QUIET)
    plan = model.trainer.lightning_module
    assert (plan.generator_steps, plan.critic_steps) == (5, 15)
    timer = next(c for c in model.trainer.callbacks if isinstance(c, pl.callbacks.Timer))
    assert timer._duration == 60
    model.train(max_steps=2, max_epochs=1, batch_size=16, n_critic=1, **QUIET)  # 4 batches
    assert model.trainer.lightning_module.generator_steps == 2  # the first budget stops it
    model.train(max_time="00:00:00:30", max_epochs=1, batch_size=30, monitor=False, **QUIET)
    assert model.trainer.lightning_module.generator_steps == 1  # 2 batches, n_critic = 2
    for bad in ("10 minutes", "00:10:00", {"minute": 1}, 10):
        with pytest.raises(ValueError, match="max_time"):
            model.train(max_time=bad)


def test_generated_counts_are_integers_with_libraries_drawn_from_the_data(trained):
    model, adata = trained  # the default count head: cells are drawn counts, log-normalised
    libraries = adata.layers["counts"].sum(1)
    cells = model.generate(n_samples=400, seed=3, counts=True)
    counts = cells.layers["counts"]
    np.testing.assert_array_equal(counts, np.round(counts))
    assert counts.min() >= 0
    assert set(cells.obs["library_size"]) <= set(np.rint(libraries).astype(int))
    assert cells.obs["library_size"].nunique() > 10  # drawn, not one library for all
    # the counts are drawn around the library: their totals follow it
    assert np.corrcoef(counts.sum(1), cells.obs["library_size"])[0, 1] > 0.5
    np.testing.assert_allclose(counts.sum() / cells.obs["library_size"].sum(), 1, rtol=0.05)
    # .X is those counts, log-normalised, as for real cells
    np.testing.assert_allclose(cells.X, log_normalize(counts), rtol=1e-5, atol=1e-6)
    assert "negative binomial" in cells.uns["michigan"]["counts"]
    again = model.generate(n_samples=400, seed=3, counts=True)
    np.testing.assert_array_equal(again.layers["counts"], counts)
    without = model.generate(n_samples=400, seed=3)  # the same cells, without the layer
    np.testing.assert_array_equal(without.X, cells.X)


def test_cells_from_codes_take_the_library_sizes_of_cells_with_nearby_codes():
    adata = _counts(n_cells=80)
    deep = adata.obs["group"].to_numpy() == "1"
    adata.layers["counts"][deep] *= 20  # the deep group holds 20 times the counts
    jitter = np.random.default_rng(0).normal(0, 0.1, (80, 2))
    adata.obsm["X_code"] = (np.where(deep[:, None], 5.0, -5.0) + jitter).astype(np.float32)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(adata, representation="X_code", **TINY)
    model.train(max_steps=1, batch_size=16, monitor=False, **QUIET)
    libraries = np.rint(np.asarray(adata.layers["counts"].sum(1)).ravel()).astype(int)
    for group in (deep, ~deep):
        cells = model.generate(codes=adata.obsm["X_code"][group], n_samples=3, seed=0, counts=True)
        assert set(cells.obs["library_size"]) <= set(libraries[group])
        assert cells.obs["library_size"].nunique() > 1  # one of several neighbours, drawn
    assert "nearest each code" in cells.uns["michigan"]["counts"]
    sampled = model.generate(n_samples=200, seed=1)  # codes of training cells, drawn
    source = adata.obs_names.get_indexer(sampled.obs["source_cell"])
    assert set(sampled.obs["library_size"][deep[source]]) <= set(libraries[deep])


def test_training_library_sizes_are_summed_once_and_again_for_a_replaced_layer(
    trained, monkeypatch
):
    from michigan.model import _generation

    model, adata = trained
    calls = []
    summed = _generation.row_sums
    monkeypatch.setattr(_generation, "row_sums", lambda m: calls.append(1) or summed(m))
    model._library_sizes_cache = None
    model.generate(n_samples=50, seed=0)
    model.generate(n_samples=50, seed=1)
    assert len(calls) == 1
    original = adata.layers["counts"]
    try:
        adata.layers["counts"] = original * 2  # a new matrix: its libraries are summed anew
        cells = model.generate(n_samples=200, seed=0, counts=True)
        assert len(calls) == 2
        doubled = set(np.rint(2 * np.asarray(original.sum(1)).ravel()).astype(int))
        assert set(cells.obs["library_size"]) <= doubled
    finally:
        adata.layers["counts"] = original
        model._library_sizes_cache = None


def test_multinomial_counts_of_the_library_size_head_sum_to_the_drawn_library():
    adata = _counts(n_cells=60)
    mg.WGANGP.setup_anndata(adata, layer="counts")
    model = mg.WGANGP(adata, output_head="library_size", **TINY)
    model.train(max_steps=2, batch_size=16, monitor=False, **QUIET)
    cells = model.generate(n_samples=100, seed=3, counts=True)
    counts = cells.layers["counts"]
    np.testing.assert_array_equal(counts, np.round(counts))
    np.testing.assert_array_equal(counts.sum(1), cells.obs["library_size"])
    assert (counts[cells.X == 0] == 0).all()  # genes the generator zeroes get no counts
    assert "multinomial" in cells.uns["michigan"]["counts"]


def test_counts_need_log_normalised_output():
    adata = _counts(n_cells=30)
    adata.obsm["X_code"] = np.zeros((30, 2), dtype=np.float32)
    adata.layers["scaled"] = adata.X - adata.X.mean(0)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(
        adata, representation="X_code", gan_layer="scaled", output_activation=None, **TINY
    )
    model.train(max_steps=1, batch_size=16, monitor=False, **QUIET)
    with pytest.raises(ValueError, match="counts=True"):
        model.generate(n_samples=3, counts=True)


def test_generate_from_codes_cells_and_training_codes(trained):
    model, adata = trained
    codes = model.get_latent_representation()
    assert codes.shape == (adata.n_obs, 3)
    from_codes = model.generate(codes=codes[:5], n_samples=2, seed=0)
    assert from_codes.n_obs == 10
    np.testing.assert_array_equal(from_codes.obsm["X_michigan"], np.repeat(codes[:5], 2, 0))
    assert list(from_codes.obs["code_index"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    np.testing.assert_array_equal(
        model.generate(codes=codes[:5], seed=3).X, model.generate(codes=codes[:5], seed=3).X
    )
    assert not np.array_equal(
        model.generate(codes=codes[:5], seed=3).X, model.generate(codes=codes[:5], seed=4).X
    )

    target = adata.copy()
    twins = model.generate(adata=target, inplace=True, seed=1)
    assert twins.n_obs == adata.n_obs
    np.testing.assert_array_equal(target.layers["michigan_generated"], twins.X)
    assert list(twins.obs["source_cell"]) == list(adata.obs_names)
    # each twin is drawn at its own cell's library, as in training (not a random training cell's)
    np.testing.assert_allclose(
        twins.obs["library_size"], np.asarray(target.layers["counts"].sum(1)).ravel()
    )
    with_counts = model.generate(adata=target, seed=1, counts=True)
    assert "each source cell's own" in with_counts.uns["michigan"]["counts"]

    sampled = model.generate(n_samples=25, seed=2)
    assert sampled.n_obs == 25 and set(sampled.obs["source_cell"]) <= set(adata.obs_names)
    settings = sampled.uns["michigan"]
    assert settings["seed"] == 2 and settings["code_source"] == "sample"
    assert set(sampled.obs["generated_from"]) == {"training cells"}
    # code_source="sample": a posterior draw around each source cell's mean, not the mean itself
    source = adata.obs_names.get_indexer(sampled.obs["source_cell"])
    assert not np.allclose(sampled.obsm["X_michigan"], model.codes_[source])


def test_traverse_varies_one_dimension(trained):
    model, _ = trained
    path = model.traverse(cell="cell-3", dim=1, n_steps=6, n_samples_per_step=2, seed=0)
    assert path.n_obs == 12
    codes = path.obsm["X_michigan"]
    expected = np.quantile(model.codes_[:, 1], [0.05, 0.95])
    np.testing.assert_allclose(codes[[0, -1], 1], expected, rtol=1e-5)
    assert np.all(np.diff(path.obs["traversal_value"].to_numpy()) >= 0)
    held = np.delete(codes, 1, axis=1)
    np.testing.assert_allclose(held, np.delete(model.codes_[[3]], 1, axis=1).repeat(12, 0))
    assert set(path.obs["traversal_dim"]) == {1} and set(path.obs["source_cell"]) == {"cell-3"}
    with pytest.raises(ValueError, match="dim"):
        model.traverse(cell=0, dim=3)
    with pytest.raises(ValueError, match="not in the training data"):
        model.traverse(cell="nope", dim=0)


def test_save_load_gives_identical_cells(trained, tmp_path):
    model, adata = trained
    model.save(tmp_path / "model", save_anndata=True)
    assert (tmp_path / "model" / "tcvae" / "model.pt").exists()
    loaded = mg.MichiGAN.load(tmp_path / "model", adata=adata)
    codes = model.get_latent_representation()[:8]
    np.testing.assert_array_equal(
        model.generate(codes=codes, seed=5).X, loaded.generate(codes=codes, seed=5).X
    )
    np.testing.assert_array_equal(
        model.generate(n_samples=9, seed=6).X, loaded.generate(n_samples=9, seed=6).X
    )
    np.testing.assert_array_equal(
        model.get_latent_representation(), loaded.get_latent_representation()
    )
    reloaded = mg.MichiGAN.load(tmp_path / "model")  # with the saved AnnData
    np.testing.assert_array_equal(
        model.generate(codes=codes, seed=5).X, reloaded.generate(codes=codes, seed=5).X
    )
    with pytest.raises(ValueError, match="genes"):
        mg.MichiGAN.load(tmp_path / "model", adata=adata[:, :10].copy())


def test_trained_tcvae_and_pca_representations(tmp_path):
    scvi.settings.seed = 0
    adata = _counts(n_cells=90)
    mg.TCVAE.setup_anndata(adata, layer="counts")
    tcvae = mg.TCVAE(adata, n_latent=4, n_hidden=(16,))
    tcvae.train(max_epochs=2, **QUIET)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(adata, representation=tcvae, **TINY)
    model.train(max_epochs=1, **QUIET)
    assert model.tcvae is tcvae and model.module.n_code == 4
    model.save(tmp_path / "with_tcvae")
    loaded = mg.MichiGAN.load(tmp_path / "with_tcvae", adata=adata)
    assert loaded.tcvae.module.n_latent == 4
    codes = np.zeros((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(
        model.generate(codes=codes, seed=0).X, loaded.generate(codes=codes, seed=0).X
    )

    # MichiGAN-PCA: codes from .obsm, the GAN on a processed layer with negative values
    adata.layers["scaled"] = (adata.X - adata.X.mean(0)) / (adata.X.std(0) + 1)
    adata.obsm["X_pca"] = adata.layers["scaled"] @ np.random.default_rng(0).normal(size=(20, 5))
    pca = mg.MichiGAN(
        adata, representation="X_pca", gan_layer="scaled", output_activation=None, **TINY
    )
    assert pca.tcvae is None and not pca.module.log_normalize
    pca.train(max_epochs=1, **QUIET)
    np.testing.assert_allclose(pca.get_latent_representation(), adata.obsm["X_pca"], rtol=1e-6)
    assert (pca.generate(n_samples=50, seed=0).X < 0).any()


def test_same_seed_gives_identical_training():
    adata = _counts(n_cells=60)
    adata.obsm["X_code"] = np.random.default_rng(1).normal(size=(60, 2)).astype(np.float32)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    weights = []
    for _ in range(2):
        scvi.settings.seed = 7
        model = mg.MichiGAN(adata, representation="X_code", **TINY)
        model.train(max_epochs=3, batch_size=16, **QUIET)
        weights.append(copy.deepcopy(model.module.state_dict()))
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=0, atol=0)


def test_gan_resumes_from_a_lightning_checkpoint(tmp_path):
    scvi.settings.seed = 0
    adata = _counts(n_cells=64)
    adata.obsm["X_code"] = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    first = mg.MichiGAN(adata, representation="X_code", **TINY)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first.train(max_epochs=2, batch_size=16, n_critic=2, callbacks=[checkpoint], **QUIET)
    saved = {k: v.clone() for k, v in first.module.state_dict().items()}

    class FirstBatch(pl.Callback):
        def on_train_batch_start(self, trainer, plan, batch, batch_idx):
            if not hasattr(self, "state"):
                self.state = copy.deepcopy(plan.module.state_dict())

    start = FirstBatch()
    resumed = mg.MichiGAN(adata, representation="X_code", **TINY)
    resumed.train(
        max_epochs=4,
        batch_size=16,
        n_critic=2,
        ckpt_path=str(tmp_path / "last.ckpt"),
        callbacks=[start],
        **QUIET,
    )
    for key, value in saved.items():
        torch.testing.assert_close(start.state[key], value)
    plan = resumed.trainer.lightning_module
    assert resumed.trainer.current_epoch == 4
    assert (plan.critic_steps, plan.generator_steps) == (16, 8)
    assert list(resumed.history["wasserstein_train"].index) == [2, 3]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_noise": -1}, ValueError, "n_noise"),
        ({"code_source": "median"}, ValueError, "code_source"),
        ({"representation": "X_missing"}, ValueError, "X_missing.*not in adata.obsm"),
        ({"representation": "X_code", "code_source": "sample"}, ValueError, "posterior"),
        ({"representation": 3}, TypeError, "representation"),
        ({"projection": "outer"}, ValueError, "projection"),
        ({"gan_layer": "missing"}, ValueError, "missing"),
        ({"gan_layer": "scaled", "log_normalize": True}, ValueError, "negative"),
        ({"gan_layer": "scaled"}, ValueError, "output_activation=None"),
        ({"representation": "X_code", "tcvae_kwargs": {"beta": 5}}, ValueError, "tcvae_kwargs"),
    ],
)
def test_bad_arguments_raise_and_leave_adata_unchanged(kwargs, error, match):
    adata = _counts(n_cells=30)
    adata.obsm["X_code"] = np.zeros((30, 2), dtype=np.float32)
    adata.layers["scaled"] = adata.X - adata.X.mean(0)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    before = _state(adata)
    with pytest.raises(error, match=match):
        mg.MichiGAN(adata, **kwargs)
    _assert_same_state(before, _state(adata))


def test_bad_train_and_generate_arguments(trained):
    model, adata = trained
    before = _state(adata)
    with pytest.raises(ValueError, match="n_critic"):
        model.train(n_critic=0)
    with pytest.raises(ValueError, match=r"codes must have shape \(n, 3\)"):
        model.generate(codes=np.zeros((4, 5)))
    with pytest.raises(ValueError, match="inplace"):
        model.generate(n_samples=3, inplace=True)
    with pytest.raises(ValueError, match="either codes or adata"):
        model.generate(codes=np.zeros((1, 3)), adata=adata)
    with pytest.raises(ValueError, match="genes"):
        model.generate(adata=adata[:, :5].copy(), inplace=True)
    _assert_same_state(before, _state(adata))

    fresh = _counts(n_cells=30)
    mg.MichiGAN.setup_anndata(fresh, layer="counts")
    untrained = mg.MichiGAN(fresh, tcvae_kwargs=TINY_TCVAE, **TINY)
    with pytest.raises(ValueError, match="n_critic"):
        untrained.train(n_critic=0)
    assert not untrained.tcvae.is_trained  # checked before the first stage ran
    with pytest.raises(ValueError, match="train"):
        untrained.generate(n_samples=2)
