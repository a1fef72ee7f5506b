"""``michigan.benchmark.leave_one_out``: every held-out type × method, scored and written."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch
from anndata import AnnData

import michigan as mg
from michigan.benchmark import LEAVE_ONE_OUT_METHODS, leave_one_out
from michigan.benchmark._leave_one_out import mean_shift

CELL_TYPES = ("A", "B", "C")
CONDITIONS = ("control", "stimulated")
N_PER_GROUP, N_GENES = 40, 30
#: Every method but scGen (pertpy is not a dependency): small networks, one epoch each.
METHODS = [m for m in LEAVE_ONE_OUT_METHODS if m != "scGen"]
#: cell_type_key, perturbation_key, control, perturbation of the test data.
KANG_LIKE_KEYS = ("cell_type", "condition", "control", "stimulated")
TINY = {
    "n_latent": 3,
    "max_epochs_vae": 1,
    "max_epochs_gan": 1,
    "batch_size_gan": 32,
    "tcvae_kwargs": {"n_hidden": (16,)},
    "gan_kwargs": {"generator_hidden": (16,), "critic_hidden": (16,), "n_noise": 4},
    "n_pcs": 5,
    "n_estimators": 10,
    "progress_bar": False,
}
METRICS = ["r2_all", "r2_top100_de", "e_distance", "rf_error", "de_direction"]


def _perturbed_counts(seed: int = 0) -> AnnData:
    """3 cell types × 2 conditions × 40 cells × 30 genes; stimulation lifts genes 0-4 fourfold."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 2.0, size=(len(CELL_TYPES), N_GENES))
    effect = np.ones(N_GENES)
    effect[:5] = 4.0
    blocks, types, conditions = [], [], []
    for i, cell_type in enumerate(CELL_TYPES):
        for condition in CONDITIONS:
            mean = base[i] * (effect if condition == "stimulated" else 1.0)
            blocks.append(rng.poisson(mean, size=(N_PER_GROUP, N_GENES)))
            types += [cell_type] * N_PER_GROUP
            conditions += [condition] * N_PER_GROUP
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(types), "condition": pd.Categorical(conditions)},
        index=[f"cell{i}" for i in range(len(types))],
    )
    adata = AnnData(
        np.vstack(blocks).astype(np.float32),
        obs=obs,
        var=pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)]),
    )
    adata.layers["counts"] = adata.X.copy()
    return adata


@pytest.fixture(scope="module")
def loo_run(tmp_path_factory):
    torch.set_num_threads(1)
    adata = _perturbed_counts()
    before = adata.copy()
    out = tmp_path_factory.mktemp("loo")
    results = leave_one_out(adata, *KANG_LIKE_KEYS, out, methods=METHODS, **TINY)
    return adata, before, results, out


def test_every_method_is_scored_on_every_held_out_type(loo_run):
    _, _, results, _ = loo_run
    assert list(results.columns) == ["held_out", "method", "n_cells", *METRICS]
    pairs = set(zip(results["held_out"], results["method"], strict=True))
    assert pairs == {(t, m) for t in CELL_TYPES for m in METHODS}
    assert (results["n_cells"] == N_PER_GROUP).all()


def test_metrics_are_in_range(loo_run):
    _, _, results, _ = loo_run
    assert np.isfinite(results[METRICS].to_numpy()).all()
    for r2 in ("r2_all", "r2_top100_de"):
        assert results[r2].between(0.0, 1.0).all()
    assert results["rf_error"].between(0.0, 0.6).all()
    assert results["de_direction"].between(0.0, 1.0).all()
    assert (results["e_distance"] >= -1e-9).all()


def test_control_unchanged_scores_the_control_cells_themselves(loo_run):
    adata, _, results, _ = loo_run
    scaled = adata.copy()
    sc.pp.normalize_total(scaled, target_sum=1e4)
    sc.pp.log1p(scaled)
    unchanged = results[results["method"] == "control unchanged"].set_index("held_out")
    for cell_type in CELL_TYPES:
        of_type = (scaled.obs["cell_type"] == cell_type).to_numpy()
        control = scaled[of_type & (scaled.obs["condition"] == "control").to_numpy()]
        real = scaled[of_type & (scaled.obs["condition"] == "stimulated").to_numpy()]
        expected = mg.metrics.r2_of_means(real.X.mean(axis=0), control.X.mean(axis=0))
        assert unchanged.loc[cell_type, "r2_all"] == pytest.approx(expected, rel=1e-5)
        # no predicted change at all: no DE gene moves in the real direction
        assert unchanged.loc[cell_type, "de_direction"] == 0.0


def test_the_mean_shift_finds_the_shared_stimulation(loo_run):
    _, _, results, _ = loo_run
    by_method = results.groupby("method")["de_direction"].mean()
    assert by_method["mean shift"] > by_method["control unchanged"]


def test_outputs_are_written_and_the_input_is_unchanged(loo_run):
    adata, before, results, out = loo_run
    written = pd.read_csv(out / "leave_one_out.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(written, results, check_dtype=False)
    table = (out / "leave_one_out.md").read_text()
    for method in METHODS:
        assert f"| mean | {method} |" in table
    for cell_type in CELL_TYPES:
        assert (out / f"leave_one_out_reg_mean_{cell_type}.png").stat().st_size > 0
    np.testing.assert_array_equal(adata.X, before.X)
    pd.testing.assert_frame_equal(adata.obs, before.obs)
    assert list(adata.layers) == ["counts"] and not adata.uns


def test_mean_shift_is_control_plus_the_other_types_mean_effect_and_ignores_the_target():
    rng = np.random.default_rng(1)
    types = np.repeat(["A", "B", "C"], 20)
    conditions = np.tile(np.repeat(["ctrl", "stim"], 10), 3)
    expression = rng.normal(size=(60, 4))
    shifted = mean_shift(expression, types, conditions, "A", "ctrl", "stim")

    def effect(cell_type):
        of_type = types == cell_type
        return expression[of_type & (conditions == "stim")].mean(axis=0) - expression[
            of_type & (conditions == "ctrl")
        ].mean(axis=0)

    source = expression[(types == "A") & (conditions == "ctrl")]
    np.testing.assert_allclose(shifted, source + (effect("B") + effect("C")) / 2)
    poisoned = expression.copy()
    poisoned[(types == "A") & (conditions == "stim")] = 1e6
    np.testing.assert_array_equal(
        mean_shift(poisoned, types, conditions, "A", "ctrl", "stim"), shifted
    )


def test_baselines_alone_train_nothing_and_respect_cell_types_and_hvgs(tmp_path):
    results = leave_one_out(
        _perturbed_counts(),
        *KANG_LIKE_KEYS,
        cell_types=["B"],
        methods=["control unchanged", "mean shift"],
        n_top_genes=20,
        n_pcs=5,
        n_estimators=10,
    )
    assert results[["held_out", "method"]].values.tolist() == [
        ["B", "control unchanged"],
        ["B", "mean shift"],
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer": "raw"}, "no layer 'raw'"),
        ({"control": "ctrl"}, "'ctrl' does not occur in adata.obs"),
        ({"cell_types": ["Z"]}, r"cell type\(s\) \['Z'\].*choose from A, B, C"),
        ({"methods": ["scVI"]}, "choose from MichiGAN"),
        ({"cell_type_key": "label"}, "label"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_the_data_unchanged(change, message):
    adata = _perturbed_counts()
    before = adata.copy()
    arguments = {
        "cell_type_key": "cell_type",
        "perturbation_key": "condition",
        "control": "control",
        "perturbed": "stimulated",
        **change,
    }
    with pytest.raises(ValueError, match=message):
        leave_one_out(adata, **arguments)
    np.testing.assert_array_equal(adata.X, before.X)
    pd.testing.assert_frame_equal(adata.obs, before.obs)


def test_one_cell_type_with_both_conditions_is_not_enough():
    adata = _perturbed_counts()
    adata = adata[~((adata.obs["cell_type"] != "A") & (adata.obs["condition"] == "control"))]
    with pytest.raises(ValueError, match="at least two cell types"):
        leave_one_out(adata.copy(), *KANG_LIKE_KEYS)


class _FakeScgen:
    """Stands in for ``pertpy.tools.Scgen``: records its arguments, predicts the controls."""

    calls: ClassVar[list] = []

    @classmethod
    def setup_anndata(cls, adata, batch_key, labels_key):
        cls.calls.append(("setup", batch_key, labels_key))

    def __init__(self, adata, **kwargs):
        self.adata = adata
        self.calls.append(("init", kwargs, adata.copy()))

    def train(self, **kwargs):
        self.calls.append(("train", kwargs))

    def predict(self, ctrl_key, stim_key, celltype_to_predict):
        obs = self.adata.obs
        is_source = (obs["cell_type"] == celltype_to_predict) & (obs["condition"] == ctrl_key)
        return self.adata[is_source.to_numpy()].copy(), None


@pytest.mark.parametrize(
    ("scgen_kwargs", "expected"),
    [(None, {"n_latent": 3}), ({}, {}), ({"n_hidden": 8}, {"n_hidden": 8})],
)
def test_scgen_row_trains_on_the_training_cells_with_its_arguments(
    monkeypatch, scgen_kwargs, expected
):
    import sys
    import types

    _FakeScgen.calls = []
    fake = types.ModuleType("pertpy")
    fake.tl = types.SimpleNamespace(Scgen=_FakeScgen)
    monkeypatch.setitem(sys.modules, "pertpy", fake)
    results = leave_one_out(
        _perturbed_counts(),
        *KANG_LIKE_KEYS,
        cell_types=["B"],
        methods=["scGen", "control unchanged"],
        scgen_kwargs=scgen_kwargs,
        max_epochs_scgen=7,
        **{k: v for k, v in TINY.items() if k in ("n_latent", "n_pcs", "n_estimators")},
    )
    setup, init, train = _FakeScgen.calls
    assert setup == ("setup", "condition", "cell_type")
    assert init[1] == expected
    seen = init[2]
    # Log-normalised training cells: B's stimulated cells are not among them.
    assert not ((seen.obs["cell_type"] == "B") & (seen.obs["condition"] == "stimulated")).any()
    np.testing.assert_allclose(np.expm1(seen.X).sum(axis=1), 1e4, rtol=1e-3)
    assert train[1]["max_epochs"] == 7
    # The fake predicts B's controls unchanged: the scGen row scores as that baseline does.
    rows = results.set_index("method")
    pd.testing.assert_series_equal(
        rows.loc["scGen", METRICS], rows.loc["control unchanged", METRICS], check_names=False
    )
