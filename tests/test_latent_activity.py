"""Latent diagnostics of the β-TCVAE: activity, KL to the prior, collapsed latents."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata
import matplotlib.pyplot as plt
import numpy as np
import pytest
import scvi
import torch

import michigan as mg
from michigan.model import _latent_activity
from michigan.model._latent_activity import (
    COLLAPSED_KL_NATS,
    LATENT_ACTIVITY_KEY,
    LatentMoments,
    activity_from_uns,
    latent_activity_table,
)

from _helpers import clustered_counts

DEAD = 2


@pytest.fixture(scope="module")
def trained():
    adata = clustered_counts(n_cells=300, n_genes=40, n_clusters=4)
    mg.TCVAE.setup_anndata(adata, layer="counts")
    scvi.settings.seed = 0
    model = mg.TCVAE(adata, n_latent=4, n_hidden=(32, 16), beta=1.0)
    model.train(max_epochs=40, batch_size=64, enable_progress_bar=False)
    return model


@pytest.fixture
def with_dead_latent(trained):
    """The trained model with latent DEAD's encoder heads zeroed: q(z_DEAD | x) = N(0, 1)."""
    state = {k: v.clone() for k, v in trained.module.state_dict().items()}
    with torch.no_grad():
        for head in (trained.module.z_mean, trained.module.z_log_var):
            head.weight[DEAD] = 0.0
            head.bias[DEAD] = 0.0
    yield trained
    trained.module.load_state_dict(state)
    trained._record_latent_activity()


def test_kl_and_activity_match_their_closed_forms():
    rng = np.random.default_rng(0)
    mean = rng.normal(0.0, [1.0, 0.1, 0.0], size=(2000, 3))
    variance = np.tile([0.04, 0.99, 1.0], (2000, 1))
    table = latent_activity_table(mean, variance)
    expected_kl = 0.5 * (mean**2 + variance - np.log(variance) - 1).mean(0)
    np.testing.assert_allclose(table["kl"], expected_kl)
    np.testing.assert_allclose(table["activity"], mean.var(0))
    np.testing.assert_allclose(table["posterior_sd"], np.sqrt(variance[0]))
    assert table["kl"].iloc[2] == pytest.approx(0.0, abs=1e-12)
    assert table["collapsed"].tolist() == [False, True, True]
    assert table.attrs["kl_threshold"] == COLLAPSED_KL_NATS


def test_the_threshold_decides_what_is_collapsed():
    mean = np.c_[np.linspace(-1, 1, 100), np.linspace(-0.5, 0.5, 100)]
    variance = np.full_like(mean, 0.5)
    kl = latent_activity_table(mean, variance)["kl"].to_numpy()
    between = float(kl.mean())
    flags = latent_activity_table(mean, variance, kl_threshold=between)["collapsed"]
    assert flags.tolist() == [False, True]


@pytest.mark.parametrize(
    ("mean", "variance", "message"),
    [
        (np.zeros((5, 2)), np.ones((5, 3)), "same shape"),
        (np.zeros((0, 2)), np.ones((0, 2)), "non-empty"),
        (np.zeros((5, 2)), np.zeros((5, 2)), "positive"),
    ],
)
def test_bad_posteriors_are_refused(mean, variance, message):
    with pytest.raises(ValueError, match=message):
        latent_activity_table(mean, variance)


def test_moments_gathered_in_uneven_blocks_equal_the_whole_arrays():
    rng = np.random.default_rng(1)
    mean = rng.normal(3.0, [1.0, 0.1, 1e-3], size=(1001, 3)).astype(np.float32)
    variance = rng.uniform(0.01, 1.5, size=(1001, 3)).astype(np.float32)
    moments = LatentMoments(3)
    for start, stop in [(0, 1), (1, 2), (2, 500), (500, 500), (500, 1001)]:
        moments.update(mean[start:stop], variance[start:stop])
    table = moments.table()
    m, v = mean.astype(np.float64), variance.astype(np.float64)
    np.testing.assert_allclose(table["activity"], m.var(axis=0), rtol=1e-10)
    np.testing.assert_allclose(table["posterior_sd"], np.sqrt(v).mean(axis=0), rtol=1e-12)
    kl = (0.5 * (m**2 + v - np.log(v) - 1.0)).mean(axis=0)
    np.testing.assert_allclose(table["kl"], kl, rtol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(n_cells, 3\)"):
        moments.update(mean[:, :2], variance[:, :2])
    with pytest.raises(ValueError, match="no cells"):
        LatentMoments(3).table()


def test_the_diagnosis_encodes_a_block_of_cells_at_a_time(trained, monkeypatch):
    expected = latent_activity_table(*trained.get_latent_representation(return_dist=True))
    asked = []
    encode = type(trained).get_latent_representation

    def counting(self, *args, indices=None, **kwargs):
        asked.append(len(indices))
        return encode(self, *args, indices=indices, **kwargs)

    monkeypatch.setattr(_latent_activity, "MOMENT_BLOCK_CELLS", 64)
    monkeypatch.setattr(type(trained), "get_latent_representation", counting)
    table = trained.get_latent_activity()
    assert max(asked) == 64 and sum(asked) == trained.adata.n_obs
    np.testing.assert_allclose(
        table[["activity", "posterior_sd", "kl"]], expected.iloc[:, :3], rtol=1e-5
    )
    assert table["collapsed"].tolist() == expected["collapsed"].tolist()
    subset = trained.get_latent_activity(indices=np.arange(100, 250))
    assert asked[-3:] == [64, 64, 22]
    mean, variance = encode(trained, indices=np.arange(100, 250), return_dist=True)
    np.testing.assert_allclose(
        subset["kl"], latent_activity_table(mean, variance)["kl"], rtol=1e-5
    )


def test_a_dead_latent_is_found_and_the_active_ones_are_not(with_dead_latent):
    table = with_dead_latent.get_latent_activity()
    assert table.loc[f"latent_{DEAD}", "collapsed"]
    assert table.loc[f"latent_{DEAD}", "kl"] < 1e-3
    assert table.loc[f"latent_{DEAD}", "posterior_sd"] == pytest.approx(1.0, abs=1e-3)
    alive = table.drop(index=f"latent_{DEAD}")
    assert not alive["collapsed"].any()
    assert alive["kl"].max() > 2 * COLLAPSED_KL_NATS


def test_training_writes_the_diagnostics_to_uns_and_the_summary(trained):
    stored = trained.adata.uns[LATENT_ACTIVITY_KEY]
    assert set(stored) == {"activity", "posterior_sd", "kl", "collapsed", "kl_threshold"}
    table = trained.get_latent_activity()
    np.testing.assert_allclose(stored["kl"], table["kl"], rtol=1e-5)
    assert list(stored["collapsed"]) == list(np.flatnonzero(table["collapsed"]))
    summary = trained.summary_string
    assert summary.count("Latent activity:") == 1
    n_active = int((~table["collapsed"]).sum())
    assert f"{n_active} of 4 latents active" in summary


def test_the_summary_names_a_dead_latent_once(with_dead_latent):
    with_dead_latent._record_latent_activity()
    with_dead_latent._record_latent_activity()
    summary = with_dead_latent.summary_string
    assert summary.count("Latent activity:") == 1
    assert "collapsed to the prior" in summary
    (line,) = [line for line in summary.splitlines() if line.startswith("Latent activity")]
    named = line.rsplit(":", 1)[1].strip(" .").split(", ")
    assert str(DEAD) in named


def test_the_record_survives_an_h5ad_round_trip(trained, tmp_path):
    path = tmp_path / "cells.h5ad"
    trained.adata.write_h5ad(path)
    table = activity_from_uns(anndata.read_h5ad(path))
    expected = trained.get_latent_activity()
    np.testing.assert_allclose(table["kl"], expected["kl"], rtol=1e-5)
    assert table["collapsed"].tolist() == expected["collapsed"].tolist()
    with pytest.raises(KeyError, match="train a TCVAE"):
        activity_from_uns(anndata.AnnData(np.zeros((3, 2))))


def test_the_plot_greys_the_collapsed_latents(with_dead_latent, tmp_path):
    path = tmp_path / "activity.png"
    ax = mg.pl.latent_activity(with_dead_latent, save=path, show=False)
    assert path.read_bytes()[:4] == b"\x89PNG"
    bars = ax.patches
    assert len(bars) == 4
    grey = matplotlib.colors.to_rgba("lightgrey")
    assert bars[DEAD].get_facecolor() == grey
    table = with_dead_latent.get_latent_activity()
    for bar, collapsed in zip(bars, table["collapsed"], strict=True):
        assert (bar.get_facecolor() == grey) == collapsed
    plt.close("all")


def test_the_plot_reads_tables_and_anndata_and_checks_its_input(trained):
    _, axes = plt.subplots(1, 2)
    mg.pl.latent_activity(trained.get_latent_activity(), metric="activity", ax=axes[0])
    mg.pl.latent_activity(trained.adata, ax=axes[1])
    assert axes[0].get_ylabel() == "variance of posterior means"
    assert len(axes[1].patches) == 4
    with pytest.raises(ValueError, match="metric"):
        mg.pl.latent_activity(trained.get_latent_activity(), metric="mi", ax=axes[0])
    with pytest.raises(TypeError, match="trained TCVAE"):
        mg.pl.latent_activity(np.zeros(3))
    plt.close("all")
