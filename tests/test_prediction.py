from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

from michigan.metrics import evaluate_prediction, r2_of_means
from michigan.model._latent_arithmetic import LatentArithmeticMixin
from michigan.tl import PREDICTED_CODES_KEY, balanced_delta, latent_arithmetic, plan_arithmetic

from _helpers import assert_unchanged, snapshot

CELL_TYPES = ("A", "B", "C")
PERTURBATIONS = ("ctrl", "P1", "P2")
N_LATENT = 4
N_GENES = 30


def additive_codes(sizes: dict[tuple[str, str], int], noise: float = 0.3, seed: int = 0):
    """Codes = cell-type offset + perturbation shift (the same for every cell type) + noise."""
    rng = np.random.default_rng(seed)
    offsets = {c: rng.normal(0, 3, N_LATENT) for c in CELL_TYPES}
    shifts = {p: rng.normal(0, 3, N_LATENT) for p in PERTURBATIONS}
    codes, cell_types, perturbations = [], [], []
    for (c, p), n in sizes.items():
        codes.append(offsets[c] + shifts[p] + noise * rng.standard_normal((n, N_LATENT)))
        cell_types += [c] * n
        perturbations += [p] * n
    truth = {(c, p): offsets[c] + shifts[p] for c in CELL_TYPES for p in PERTURBATIONS}
    return np.vstack(codes), np.array(cell_types), np.array(perturbations), truth


def sizes_without(held_out=("A", "P2"), overrides=None) -> dict[tuple[str, str], int]:
    rng = np.random.default_rng(1)
    sizes = {(c, p): int(rng.integers(40, 120)) for c in CELL_TYPES for p in PERTURBATIONS}
    sizes.pop(held_out)
    sizes.update(overrides or {})
    return sizes


# --- the pure arithmetic -----------------------------------------------------------------


def test_prediction_lands_on_the_held_out_combination():
    codes, cell_types, perturbations, truth = additive_codes(sizes_without())
    result = latent_arithmetic(codes, cell_types, perturbations, ("A", "P2"), seed=0)
    held_out = additive_codes({**sizes_without(), ("A", "P2"): 500})[0][-500:]
    # Each latent's predicted mean is the truth; the spread is the noise's.
    np.testing.assert_allclose(result.codes.mean(axis=0), truth[("A", "P2")], atol=0.15)
    np.testing.assert_allclose(result.codes.std(axis=0), held_out.std(axis=0), rtol=0.3)
    # Decoded by a linear "generator", the mean expression has R² near 1 with the truth ...
    weights = np.random.default_rng(2).normal(size=(N_LATENT, N_GENES))
    r2 = r2_of_means((held_out @ weights).mean(axis=0), (result.codes @ weights).mean(axis=0))
    assert r2 > 0.99
    # ... and the unshifted control cells do not.
    control = codes[result.source] @ weights
    assert r2_of_means((held_out @ weights).mean(axis=0), control.mean(axis=0)) < 0.9
    assert result.control in ("B", "C")
    assert set(result.shared) == {"ctrl", "P1"}
    sources = cell_types[result.source], perturbations[result.source]
    assert set(sources[0]) == {result.control} and set(sources[1]) == {"P2"}


def test_scgen_orientation_swaps_the_roles_and_lands_too():
    codes, cell_types, perturbations, truth = additive_codes(sizes_without())
    result = latent_arithmetic(codes, perturbations, cell_types, ("P2", "A"), "ctrl", seed=0)
    np.testing.assert_allclose(result.codes.mean(axis=0), truth[("A", "P2")], atol=0.15)
    assert set(cell_types[result.source]) == {"A"}
    assert set(perturbations[result.source]) == {"ctrl"}
    assert set(result.shared) == {"B", "C"}


def test_each_shared_perturbation_weighs_the_same_whatever_the_group_sizes():
    # Noise-free codes where the cell-type difference is 1 under P1 and 3 under ctrl.
    target = [np.full((100, 2), 3.0), np.full((5, 2), 1.0)]
    control = [np.zeros((7, 2)), np.zeros((300, 2))]
    np.testing.assert_allclose(balanced_delta(target, control, seed=0), [2.0, 2.0])
    np.testing.assert_allclose(balanced_delta(target, control, balance=False), [2.0, 2.0])
    pooled = np.vstack(target).mean(axis=0) - np.vstack(control).mean(axis=0)
    assert not np.allclose(pooled, 2.0)  # the naive pooled estimate depends on the sizes


def test_duplicating_a_group_ten_times_leaves_delta_unchanged():
    codes, cell_types, perturbations, _ = additive_codes(sizes_without(), noise=1.0)
    exact = latent_arithmetic(
        codes, cell_types, perturbations, ("A", "P2"), "B", balance=False
    ).delta
    group = np.flatnonzero((cell_types == "A") & (perturbations == "P1"))
    rows = np.concatenate([np.arange(len(codes)), np.repeat(group, 9)])
    deltas = [
        latent_arithmetic(
            codes[rows], cell_types[rows], perturbations[rows], ("A", "P2"), "B", seed=s
        ).delta
        for s in range(20)
    ]
    # The resampled estimate is the same in expectation ...
    np.testing.assert_allclose(np.mean(deltas, axis=0), exact, atol=0.06)
    # ... and the group means behind it are exactly the same.
    duplicated = latent_arithmetic(
        codes[rows], cell_types[rows], perturbations[rows], ("A", "P2"), "B", balance=False
    ).delta
    np.testing.assert_allclose(duplicated, exact)
    # Pooling the shared perturbations' cells instead would move with the duplication.
    target = (cell_types == "A") & (perturbations != "P2")
    control = (cell_types == "B") & (perturbations != "P2")
    pooled = codes[target].mean(axis=0) - codes[control].mean(axis=0)
    target_rows = np.isin(rows, np.flatnonzero(target))
    pooled_dup = codes[rows][target_rows].mean(axis=0) - codes[control].mean(axis=0)
    assert np.abs(pooled_dup - pooled).max() > 0.5


def test_default_control_has_most_cells_under_the_target_perturbation():
    sizes = sizes_without(overrides={("B", "P2"): 20, ("C", "P2"): 200})
    _, cell_types, perturbations, _ = additive_codes(sizes)
    assert plan_arithmetic(cell_types, perturbations, ("A", "P2")).control == "C"
    # A cell type that shares nothing with the target is passed over, however large.
    sizes = {("A", "ctrl"): 30, ("B", "ctrl"): 30, ("B", "P2"): 10, ("C", "P2"): 500}
    _, cell_types, perturbations, _ = additive_codes(sizes)
    assert plan_arithmetic(cell_types, perturbations, ("A", "P2")).control == "B"


def test_n_cells_and_seed():
    codes, cell_types, perturbations, _ = additive_codes(sizes_without())
    args = (codes, cell_types, perturbations, ("A", "P2"))
    first = latent_arithmetic(*args, n_cells=500, seed=3)
    assert first.codes.shape == (500, N_LATENT)
    np.testing.assert_array_equal(first.codes, latent_arithmetic(*args, n_cells=500, seed=3).codes)
    assert not np.array_equal(first.delta, latent_arithmetic(*args, n_cells=500, seed=4).delta)
    few = latent_arithmetic(*args, n_cells=5, seed=0)
    assert len(np.unique(few.source)) == 5  # drawn without replacement when there are enough


@pytest.mark.parametrize(
    ("target", "control", "match"),
    [
        (("A", "ctrl"), None, "is observed"),
        (("Z", "P2"), None, "cell type 'Z' does not occur"),
        (("A", "P9"), None, "perturbation 'P9' does not occur"),
        (("A", "P2"), "A", "is the target's"),
        (("A", "P2"), "Q", "does not occur"),
        ("A", None, "must be a \\(cell type, perturbation\\) pair"),
    ],
)
def test_bad_requests_raise_naming_the_problem(target, control, match):
    codes, cell_types, perturbations, _ = additive_codes(sizes_without())
    with pytest.raises(ValueError, match=match):
        latent_arithmetic(codes, cell_types, perturbations, target, control)


def test_no_shared_perturbation_raises():
    sizes = {("A", "ctrl"): 20, ("B", "P1"): 20, ("B", "P2"): 20, ("C", "P1"): 5}
    codes, cell_types, perturbations, _ = additive_codes(sizes)
    with pytest.raises(ValueError, match="shares another perturbation"):
        latent_arithmetic(codes, cell_types, perturbations, ("A", "P2"))
    with pytest.raises(ValueError, match="share no perturbation"):
        latent_arithmetic(codes, cell_types, perturbations, ("A", "P2"), "B")


def test_control_without_cells_under_the_target_perturbation_raises():
    sizes = sizes_without()
    sizes.pop(("C", "P2"))
    codes, cell_types, perturbations, _ = additive_codes(sizes)
    with pytest.raises(ValueError, match="has no cells with 'P2'"):
        latent_arithmetic(codes, cell_types, perturbations, ("A", "P2"), "C")


def test_codes_must_match_the_labels():
    codes, cell_types, perturbations, _ = additive_codes(sizes_without())
    with pytest.raises(ValueError, match="rows"):
        latent_arithmetic(codes[:-1], cell_types, perturbations, ("A", "P2"))
    bad = codes.copy()
    first = np.flatnonzero((cell_types == "A") & (perturbations == "ctrl"))[0]
    bad[first] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        latent_arithmetic(bad, cell_types, perturbations, ("A", "P2"), "B")


# --- the predict pipeline, with a fake generator -------------------------------------------


class FakeModel(LatentArithmeticMixin):
    """Codes from ``.obsm`` (plus seeded Gaussian "posterior" noise of SD ``posterior_sd``
    unless means are asked for); a linear "generator" ``expression = codes @ W``."""

    def __init__(self, adata: AnnData, weights: np.ndarray, posterior_sd: float = 0.0):
        self.adata = adata
        self.weights = weights
        self.posterior_sd = posterior_sd

    def _validate_anndata(self, adata):
        return adata

    def _arithmetic_codes(self, adata, indices, give_mean, seed):
        codes = adata.obsm["codes"][indices]
        if give_mean:
            return codes
        noise = np.random.default_rng(seed).standard_normal(codes.shape)
        return codes + self.posterior_sd * noise

    def _arithmetic_expression(self, codes, adata, source, seed, expression):
        return codes @ self.weights


@pytest.fixture
def fake_setup():
    sizes = {**sizes_without(), ("A", "P2"): 300}
    codes, cell_types, perturbations, _ = additive_codes(sizes)
    weights = np.random.default_rng(2).normal(size=(N_LATENT, N_GENES))
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(cell_types), "condition": pd.Categorical(perturbations)},
        index=[f"cell{i}" for i in range(len(codes))],
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)])
    full = AnnData(codes @ weights, obs=obs, var=var)
    full.obsm["codes"] = codes
    held = ((full.obs["cell_type"] == "A") & (full.obs["condition"] == "P2")).to_numpy()
    adata, real = full[~held].copy(), full[held].copy()
    return FakeModel(adata, weights), adata, real


PREDICT_KEYS = {"cell_type_key": "cell_type", "perturbation_key": "condition"}


def test_predict_pipeline_with_an_identity_generator(fake_setup, tmp_path):
    model, adata, real = fake_setup
    before = snapshot(adata)
    predicted = model.predict(**PREDICT_KEYS, target=("A", "P2"), seed=0)
    assert_unchanged(adata, before)
    assert predicted.var_names.equals(adata.var_names)
    assert r2_of_means(real.X.mean(axis=0), predicted.X.mean(axis=0)) > 0.99
    codes = predicted.obsm[PREDICTED_CODES_KEY]
    np.testing.assert_allclose(predicted.X, codes @ model.weights, rtol=1e-4, atol=1e-4)
    obs = predicted.obs
    assert (obs["cell_type"] == "A").all() and (obs["condition"] == "P2").all()
    assert set(obs["prediction_code_source"]) == {"sample"}
    assert set(obs["prediction_method"]) == {"fakemodel"}
    assert set(obs["prediction_arithmetic"]) == {"perturbation"}
    uns = predicted.uns["prediction"]
    assert uns["target"] == ["A", "P2"] and sorted(uns["shared"]) == ["B", "C"]
    source_codes = adata.obsm["codes"][adata.obs_names.get_indexer(obs["source_cell"])]
    np.testing.assert_allclose(codes, source_codes + uns["delta"], rtol=1e-5, atol=1e-5)
    predicted.write_h5ad(tmp_path / "predicted.h5ad")  # the provenance is h5ad-writable
    paper = model.predict(**PREDICT_KEYS, target=("A", "P2"), arithmetic="cell_type", seed=0)
    assert r2_of_means(real.X.mean(axis=0), paper.X.mean(axis=0)) > 0.99
    control = paper.obs["prediction_control"].iloc[0]
    assert control in ("B", "C") and paper.uns["prediction"]["source_group"] == [control, "P2"]
    assert (adata.obs.loc[paper.obs["source_cell"], "cell_type"] == control).all()
    assert (adata.obs.loc[paper.obs["source_cell"], "condition"] == "P2").all()
    assert sorted(paper.uns["prediction"]["shared"]) == ["P1", "ctrl"]


def test_default_source_cells_are_the_target_types_controls(fake_setup):
    model, adata, _ = fake_setup
    predicted = model.predict(
        **PREDICT_KEYS, target=("A", "P2"), control_perturbation="ctrl", seed=0
    )
    is_source = ((adata.obs["cell_type"] == "A") & (adata.obs["condition"] == "ctrl")).to_numpy()
    # Each control cell of the target type is shifted once, and nothing else is.
    assert sorted(predicted.obs["source_cell"]) == sorted(adata.obs_names[is_source])
    uns = predicted.uns["prediction"]
    assert uns["arithmetic"] == "perturbation" and uns["source_group"] == ["A", "ctrl"]
    assert set(uns["source_cells"]) == set(adata.obs_names[is_source])
    # Left to choose, it takes the perturbation with the most cells of the target type.
    counts = adata.obs.loc[adata.obs["cell_type"] == "A", "condition"].value_counts()
    default = model.predict(**PREDICT_KEYS, target=("A", "P2"), seed=0)
    assert default.uns["prediction"]["source_group"] == ["A", counts.idxmax()]
    assert (adata.obs.loc[default.obs["source_cell"], "cell_type"] == "A").all()


def test_the_perturbation_vector_never_reads_the_target_cell_type(fake_setup):
    model, adata, _ = fake_setup
    kwargs = {**PREDICT_KEYS, "target": ("A", "P2"), "control_perturbation": "ctrl", "seed": 0}
    clean = model.predict(**kwargs)
    # Poison every code of the target cell type: Δ is estimated from the other types only,
    # so it does not move; the shifted source cells carry the poison, shifted by the same Δ.
    poisoned = adata.copy()
    is_a = (poisoned.obs["cell_type"] == "A").to_numpy()
    poisoned.obsm["codes"][is_a] = 1e3 * np.random.default_rng(5).standard_normal(
        (is_a.sum(), N_LATENT)
    )
    dirty = model.predict(poisoned, **kwargs)
    np.testing.assert_array_equal(
        dirty.uns["prediction"]["delta"], clean.uns["prediction"]["delta"]
    )
    source = poisoned.obs_names.get_indexer(dirty.obs["source_cell"])
    np.testing.assert_allclose(
        dirty.obsm[PREDICTED_CODES_KEY],
        poisoned.obsm["codes"][source] + clean.uns["prediction"]["delta"],
        rtol=1e-5,
    )
    # Poisoning another cell type's stimulated cells does move Δ: the test can fail.
    is_b = ((poisoned.obs["cell_type"] == "B") & (poisoned.obs["condition"] == "P2")).to_numpy()
    other = adata.copy()
    other.obsm["codes"][is_b] += 100.0
    moved = model.predict(other, **kwargs).uns["prediction"]["delta"]
    assert np.abs(moved - clean.uns["prediction"]["delta"]).min() > 10


def test_uncertainty_is_the_spread_of_the_predicted_means_over_samples(fake_setup):
    model, _, _ = fake_setup
    kwargs = {**PREDICT_KEYS, "target": ("A", "P2"), "balance": False, "seed": 0}
    single = model.predict(**kwargs)
    np.testing.assert_allclose(single.var["predicted_mean"], single.X.mean(axis=0), rtol=1e-5)
    assert "predicted_mean_sd" not in single.var
    sds = {}
    for posterior_sd in (0.0, 1.0, 2.0):
        model.posterior_sd = posterior_sd
        predicted = model.predict(**kwargs, n_samples=6)
        sds[posterior_sd] = predicted.var["predicted_mean_sd"].to_numpy()
        if posterior_sd == 1.0:  # the cells returned are the first sample's
            np.testing.assert_array_equal(predicted.X, model.predict(**kwargs).X)
            assert predicted.uns["prediction"]["n_samples"] == 6
    model.posterior_sd = 0.0
    # Nothing random (fixed codes, no resampling): no spread. Linear in the posterior noise,
    # with the same seeds: twice the noise, exactly twice the spread.
    np.testing.assert_allclose(sds[0.0], 0.0, atol=1e-6)
    assert (sds[1.0] > 0).all()
    np.testing.assert_allclose(sds[2.0], 2 * sds[1.0], rtol=1e-3)
    means = model.predict(**{**kwargs, "code_source": "mean"}, n_samples=4)
    np.testing.assert_allclose(means.var["predicted_mean_sd"], 0.0, atol=1e-6)


def test_evaluate_prediction_scores_the_prediction_above_the_control(fake_setup):
    model, adata, real = fake_setup
    predicted = model.predict(**PREDICT_KEYS, target=("A", "P2"), code_source="mean", seed=0)
    control = adata[
        (adata.obs["cell_type"] == "A").to_numpy() & (adata.obs["condition"] == "ctrl").to_numpy()
    ]
    scores = evaluate_prediction(
        predicted,
        real,
        control,
        n_top_genes=10,
        real_latents="codes",
        control_latents="codes",
        n_estimators=20,
    )
    assert scores["r2_mean"] > 0.99 and scores["r2_mean_top_de"] > 0.95
    assert scores["rf_error"] > 0.2 > scores["rf_error_control"]
    assert scores["mean_distance"] < scores["mean_distance_control"]
    assert abs(scores["delta_h"]) < abs(scores["delta_h_control"]) or abs(scores["delta_h"]) < 0.5
    assert scores["n_predicted"] == predicted.n_obs and scores["n_real"] == real.n_obs
    no_control = evaluate_prediction(predicted, real, n_estimators=10)
    assert np.isnan(no_control["r2_mean_top_de"]) and np.isnan(no_control["delta_h"])
    with pytest.raises(ValueError, match="different genes"):
        evaluate_prediction(predicted[:, ::-1], real)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cell_type_key": "missing"}, "'missing' is not a column of adata.obs"),
        ({"target": ("A", "ctrl")}, "is observed"),
        ({"target": ("Z", "P2")}, "does not occur in cell_type"),
        ({"target": ("A", "P9")}, "does not occur in condition"),
        ({"arithmetic": "cell_type", "control_cell_type": "A"}, "is the target's"),
        ({"control_perturbation": "P2"}, "is the target's"),
        ({"code_source": "median"}, "unknown code_source"),
        ({"arithmetic": "gene"}, "unknown arithmetic"),
        (
            {"arithmetic": "cell_type", "control_perturbation": "ctrl"},
            "applies to arithmetic='perturbation'",
        ),
        ({"control_cell_type": "B"}, "applies to arithmetic='cell_type'"),
        (
            {"arithmetic": "perturbation", "control_perturbation": "P9"},
            "does not occur in condition",
        ),
        ({"n_cells": 0}, "n_cells must be at least 1"),
        ({"n_samples": 0}, "n_samples must be at least 1"),
        ({"expression": "mean"}, "unknown expression"),
    ],
)
def test_predict_errors_leave_adata_unchanged(fake_setup, kwargs, match):
    model, adata, _ = fake_setup
    before = snapshot(adata)
    with pytest.raises(ValueError, match=match):
        model.predict(**{**PREDICT_KEYS, "target": ("A", "P2"), **kwargs})
    assert_unchanged(adata, before)


def test_predict_without_a_shared_perturbation_raises(fake_setup):
    model, adata, _ = fake_setup
    keep = ~((adata.obs["cell_type"] == "A") & (adata.obs["condition"] != "ctrl")).to_numpy()
    keep &= ~((adata.obs["condition"] == "ctrl") & (adata.obs["cell_type"] != "A")).to_numpy()
    model.adata = adata[keep].copy()
    with pytest.raises(ValueError, match="shares another cell type"):
        model.predict(**PREDICT_KEYS, target=("A", "P2"))
    with pytest.raises(ValueError, match="shares another perturbation"):
        model.predict(**PREDICT_KEYS, target=("A", "P2"), arithmetic="cell_type")


# --- TCVAE.predict --------------------------------------------------------------------------


def perturbed_counts(seed: int = 0, sizes: dict | None = None) -> AnnData:
    """Counts whose log-means add a cell-type and a perturbation programme; (A, P2) absent
    unless ``sizes`` has it."""
    rng = np.random.default_rng(seed)
    base = rng.normal(1.0, 0.5, N_GENES)
    effects = {k: rng.normal(0, 0.8, N_GENES) for k in CELL_TYPES + PERTURBATIONS}
    blocks, obs = [], []
    for (c, p), n in (sizes or sizes_without()).items():
        mean = np.exp(base + effects[c] + effects[p])
        blocks.append(rng.poisson(mean, size=(n // 2, N_GENES)))
        obs += [(c, p)] * (n // 2)
    obs = pd.DataFrame(obs, columns=["cell_type", "condition"]).astype("category")
    obs.index = [f"cell{i}" for i in range(len(obs))]
    counts = np.vstack(blocks).astype(np.float32)
    return AnnData(counts, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)]))


@pytest.fixture(scope="module")
def tcvae():
    import scvi

    import michigan as mg

    scvi.settings.seed = 0  # the likelihood test's correlation depends on the trained decoder
    adata = perturbed_counts()
    mg.TCVAE.setup_anndata(adata)
    model = mg.TCVAE(adata, n_latent=N_LATENT, beta=2.0, n_hidden=(32, 16))
    model.train(max_epochs=5, batch_size=64, enable_progress_bar=False)
    return model


def test_tcvae_predict_decodes_shifted_codes_to_log_normalised_expression(tcvae):
    import torch

    before = snapshot(tcvae.adata)
    state = torch.get_rng_state()
    predicted = tcvae.predict(**PREDICT_KEYS, target=("A", "P2"), code_source="mean", seed=0)
    assert torch.equal(state, torch.get_rng_state())  # a seeded call leaves torch's RNG alone
    assert_unchanged(tcvae.adata, before)
    source = tcvae.adata.obs_names.get_indexer(predicted.obs["source_cell"])
    means = tcvae.get_latent_representation(give_mean=True)
    codes = predicted.obsm[PREDICTED_CODES_KEY]
    np.testing.assert_allclose(
        codes, means[source] + predicted.uns["prediction"]["delta"], atol=1e-5
    )
    np.testing.assert_allclose(
        predicted.X, np.log1p(tcvae.decode(codes, library_size=1e4)), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(np.expm1(predicted.X).sum(axis=1), 1e4, rtol=1e-3)
    assert set(predicted.obs["prediction_method"]) == {"tcvae"}
    sampled = tcvae.predict(**PREDICT_KEYS, target=("A", "P2"), code_source="sample", seed=1)
    again = tcvae.predict(**PREDICT_KEYS, target=("A", "P2"), code_source="sample", seed=1)
    np.testing.assert_array_equal(sampled.X, again.X)
    assert not np.allclose(sampled.obsm[PREDICTED_CODES_KEY], codes)
    spread = tcvae.predict(
        **PREDICT_KEYS, target=("A", "P2"), code_source="sample", seed=1, n_samples=3
    )
    np.testing.assert_array_equal(spread.X, sampled.X)
    assert (spread.var["predicted_mean_sd"] > 0).all()
    scgen = tcvae.predict(
        **PREDICT_KEYS, target=("A", "P2"), arithmetic="perturbation", n_cells=50
    )
    assert scgen.n_obs == 50 and set(scgen.obs["prediction_control"]) <= {"ctrl", "P1"}


def test_tcvae_predict_can_draw_cells_from_the_likelihood(tcvae):
    kwargs = {**PREDICT_KEYS, "target": ("A", "P2"), "seed": 0}
    expected = tcvae.predict(**kwargs)
    cells = tcvae.predict(**kwargs, expression="sample")
    again = tcvae.predict(**kwargs, expression="sample")
    np.testing.assert_array_equal(cells.X, again.X)
    # The same shifted codes, now drawn as counts: exact zeros, log-normalised to 1e4 ...
    np.testing.assert_array_equal(
        cells.obsm[PREDICTED_CODES_KEY], expected.obsm[PREDICTED_CODES_KEY]
    )
    assert (cells.X == 0).any() and not (expected.X == 0).any()
    np.testing.assert_allclose(np.expm1(cells.X).sum(axis=1), 1e4, rtol=1e-3)
    assert set(cells.obs["prediction_expression"]) == {"sample"}
    assert set(expected.obs["prediction_expression"]) == {"mean"}
    # ... whose per-gene means follow the decoder's expected profile (many draws).
    many = {"n_cells": 20_000, "code_source": "mean"}
    profile = np.expm1(tcvae.predict(**kwargs, **many).X).mean(axis=0)
    drawn = np.expm1(tcvae.predict(**kwargs, **many, expression="sample").X).mean(axis=0)
    # on the log scale: a few overdispersed genes would dominate a linear correlation. Not 1
    # even with infinite draws: each drawn cell is normalised by its own drawn total, which at
    # this toy set's small libraries biases overdispersed genes (0.94 seen at 20,000 draws).
    assert np.corrcoef(np.log1p(drawn), np.log1p(profile))[0, 1] > 0.9


def test_a_decoded_library_model_draws_predictions_at_its_codes_libraries():
    import scvi

    import michigan as mg

    scvi.settings.seed = 0
    adata = perturbed_counts()
    mg.TCVAE.setup_anndata(adata)
    model = mg.TCVAE(adata, n_latent=N_LATENT, n_hidden=(32, 16), decode_library=True)
    model.train(max_epochs=5, batch_size=64, enable_progress_bar=False)
    kwargs = {**PREDICT_KEYS, "target": ("A", "P2"), "seed": 0}
    cells = model.predict(**kwargs, expression="sample")
    # no library size is passed in: each cell's comes from its (shifted) code
    drawn = np.expm1(cells.X).sum(axis=1)
    np.testing.assert_allclose(drawn, 1e4, rtol=1e-3)
    assert (cells.X == 0).any()
    assert np.isfinite(cells.X).all()


def test_poisoned_held_out_cells_change_nothing():
    """The held-out cells reach neither training nor Δ: poisoning them changes no prediction."""
    import scvi

    import michigan as mg
    from michigan.data import hold_out

    full = perturbed_counts(sizes={**sizes_without(), ("A", "P2"): 60})
    is_held = ((full.obs["cell_type"] == "A") & (full.obs["condition"] == "P2")).to_numpy()
    poisoned = full.copy()
    poisoned.X[is_held] = 1e4 * np.random.default_rng(3).random((is_held.sum(), N_GENES))
    predictions = []
    for data in (full, poisoned):
        train, _ = hold_out(data, "cell_type", "condition", [("A", "P2")])
        scvi.settings.seed = 0
        mg.TCVAE.setup_anndata(train)
        model = mg.TCVAE(train, n_latent=N_LATENT, n_hidden=(16,))
        model.train(max_epochs=2, batch_size=64, enable_progress_bar=False)
        predictions.append(model.predict(**PREDICT_KEYS, target=("A", "P2"), seed=0))
    clean, dirty = predictions
    np.testing.assert_array_equal(dirty.X, clean.X)
    np.testing.assert_array_equal(
        dirty.uns["prediction"]["delta"], clean.uns["prediction"]["delta"]
    )
    assert not set(clean.obs["source_cell"]) & set(full.obs_names[is_held])


def test_tcvae_predict_refuses_an_observed_combination(tcvae):
    before = snapshot(tcvae.adata)
    with pytest.raises(ValueError, match="hold those cells out"):
        tcvae.predict(**PREDICT_KEYS, target=("B", "P2"))
    assert_unchanged(tcvae.adata, before)


# --- MichiGAN.predict -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def michigan_model():
    import michigan as mg

    adata = perturbed_counts()
    mg.MichiGAN.setup_anndata(adata)
    model = mg.MichiGAN(
        adata,
        code_source="sample",
        n_noise=8,
        generator_hidden=(32, 64),
        critic_hidden=(64, 32),
        tcvae_kwargs={"n_latent": N_LATENT, "beta": 2.0, "n_hidden": (32, 16)},
    )
    model.train(max_epochs=2, max_epochs_tcvae=2, batch_size=32, enable_progress_bar=False)
    return model


def test_michigan_predict_generates_from_the_shifted_codes(michigan_model):
    model = michigan_model
    before = snapshot(model.adata)
    predicted = model.predict(**PREDICT_KEYS, target=("A", "P2"), code_source="mean", seed=0)
    assert_unchanged(model.adata, before)
    source = model.adata.obs_names.get_indexer(predicted.obs["source_cell"])
    codes = predicted.obsm[PREDICTED_CODES_KEY]
    means = model.get_latent_representation(give_mean=True)
    np.testing.assert_allclose(
        codes, means[source] + predicted.uns["prediction"]["delta"], atol=1e-5
    )
    # The generator's output for these codes with the same noise seed, drawn at the source
    # cells' libraries (generate(codes=...) draws libraries of random training cells instead).
    library = np.asarray(model.adata.X.sum(axis=1)).ravel()[source]
    np.testing.assert_array_equal(
        predicted.X, model._generate_expression(codes, len(codes), 0, library=library)
    )
    assert (predicted.X >= 0).all() and predicted.var_names.equals(model.adata.var_names)
    assert set(predicted.obs["prediction_method"]) == {"michigan"}
    sampled = model.predict(**PREDICT_KEYS, target=("A", "P2"), seed=3, n_cells=40)
    again = model.predict(**PREDICT_KEYS, target=("A", "P2"), seed=3, n_cells=40)
    np.testing.assert_array_equal(sampled.X, again.X)
    assert sampled.n_obs == 40 and set(sampled.obs["prediction_code_source"]) == {"sample"}
    with pytest.raises(ValueError, match="is observed"):
        model.predict(**PREDICT_KEYS, target=("C", "P2"))
    assert_unchanged(model.adata, before)


def test_michigan_predict_draws_each_cell_at_its_source_cells_library(michigan_model, monkeypatch):
    """The count head draws a predicted cell at the library of the control cell it shifts."""
    from michigan.model import _generation

    model = michigan_model
    assert model.module.draws_counts
    drawn_at = []

    def spy(expression, library, *args, **kwargs):
        drawn_at.append(np.asarray(library).copy())
        return likelihood_counts(expression, library, *args, **kwargs)

    likelihood_counts = _generation.likelihood_counts
    monkeypatch.setattr(_generation, "likelihood_counts", spy)
    adata = model.adata.copy()
    is_source = ((adata.obs["cell_type"] == "A") & (adata.obs["condition"] == "P1")).to_numpy()
    adata.X[is_source] *= 7  # libraries no training cell has
    predicted = model.predict(adata, **PREDICT_KEYS, target=("A", "P2"), seed=1, n_cells=60)
    source = adata.obs_names.get_indexer(predicted.obs["source_cell"])
    assert is_source[source].all()
    np.testing.assert_array_equal(
        np.concatenate(drawn_at), np.rint(np.asarray(adata.X.sum(axis=1)).ravel()[source])
    )
    assert np.concatenate(drawn_at).min() > np.asarray(model.adata.X.sum(axis=1)).max()


def test_michigan_traversals_plot_on_the_real_cells(michigan_model, tmp_path):
    import matplotlib
    from sklearn.decomposition import PCA

    import michigan as mg

    matplotlib.use("Agg")
    model = michigan_model
    real = model.generate(adata=model.adata, seed=0)  # the space the GAN learned
    embedding = mg.pl.reference_umap(real, n_pcs=5, reducer=PCA(n_components=2))
    traversals = [model.traverse(cell=0, dim=d, n_steps=6, seed=0) for d in range(2)]
    axes = mg.pl.traversal(
        real, traversals, embedding=embedding, save=tmp_path / "t.png", show=False
    )
    assert [ax.get_title() for ax in axes] == ["Z0", "Z1"]
    np.testing.assert_allclose(
        axes[1].collections[1].get_array(), traversals[1].obs["traversal_value"], rtol=1e-6
    )
    assert (tmp_path / "t.png").stat().st_size > 0
