from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

from michigan.data import hold_out
from michigan.data._holdout import HOLD_OUT_UNS_KEY

from _helpers import assert_unchanged, snapshot

SENTINEL = "sentinel"


def labelled_counts(seed: int = 0) -> AnnData:
    """Counts of 3 cell types × 2 conditions; the last gene is non-zero only in (B, stim)."""
    rng = np.random.default_rng(seed)
    cell_types = np.repeat(["A", "B", "C"], 40)
    conditions = np.tile(np.repeat(["ctrl", "stim"], 20), 3)
    counts = rng.poisson(3.0, size=(120, 20)).astype(np.float32)
    held = (cell_types == "B") & (conditions == "stim")
    counts[:, -1] = np.where(held, 500.0, 0.0)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(cell_types), "condition": pd.Categorical(conditions)},
        index=[f"cell{i}" for i in range(120)],
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(19)] + [SENTINEL])
    return AnnData(counts, obs=obs, var=var)


def test_hold_out_splits_off_exactly_the_combinations():
    adata = labelled_counts()
    before = snapshot(adata)
    train, held = hold_out(adata, "cell_type", "condition", [("B", "stim"), ("C", "ctrl")])
    assert_unchanged(adata, before)
    assert held.n_obs == 40 and train.n_obs == 80
    assert not set(train.obs_names) & set(held.obs_names)
    assert set(train.obs_names) | set(held.obs_names) == set(adata.obs_names)
    pairs = set(zip(held.obs["cell_type"], held.obs["condition"], strict=True))
    assert pairs == {("B", "stim"), ("C", "ctrl")}
    assert not pairs & set(zip(train.obs["cell_type"], train.obs["condition"], strict=True))
    for part in (train, held):
        record = part.uns[HOLD_OUT_UNS_KEY]
        assert list(record["cell_types"]) == ["B", "C"]
        assert list(record["perturbations"]) == ["stim", "ctrl"]
    train.X[:] = -1  # copies, not views
    assert (adata.X >= 0).all()
    single_train, single_held = hold_out(adata, "cell_type", "condition", ("B", "stim"))
    assert single_held.n_obs == 20 and single_train.n_obs == 100


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("cell", "condition", ("B", "stim")), "'cell' is not a column of adata.obs"),
        (("cell_type", "condition", ("Z", "stim")), "'Z' does not occur in adata.obs"),
        (("cell_type", "condition", ("stim", "B")), "check the spelling and the order"),
        (("cell_type", "condition", []), "combinations is empty"),
        (("cell_type", "condition", "B"), "must be a \\(cell type, perturbation\\) pair"),
        (("cell_type", "condition", [("B", "stim", "x")]), "is not a \\(cell type"),
        (
            ("cell_type", "condition", [(c, p) for c in "ABC" for p in ("ctrl", "stim")]),
            "nothing would be left",
        ),
    ],
)
def test_hold_out_errors_leave_adata_unchanged(args, match):
    adata = labelled_counts()
    before = snapshot(adata)
    with pytest.raises(ValueError, match=match):
        hold_out(adata, *args)
    assert_unchanged(adata, before)


def test_unobserved_combination_raises():
    adata = labelled_counts()
    adata = adata[~((adata.obs["cell_type"] == "A") & (adata.obs["condition"] == "stim"))].copy()
    with pytest.raises(ValueError, match="no cell is both 'A'"):
        hold_out(adata, "cell_type", "condition", [("A", "stim")])


def test_held_out_cells_never_reach_training():
    import michigan as mg

    adata = labelled_counts()
    mg.TCVAE.setup_anndata(adata)  # a registration of the full data is not carried over
    train, held = hold_out(adata, "cell_type", "condition", [("B", "stim")])
    assert "_scvi_uuid" not in train.uns
    mg.TCVAE.setup_anndata(train)
    assert (held[:, SENTINEL].X > 0).all()
    model = mg.TCVAE(train, n_latent=2, n_hidden=(16,))
    seen = []

    def record(module, args, kwargs):
        tensors = args[0] if args else kwargs["tensors"]
        seen.append(tensors["X"][:, -1].detach().clone())

    model.module.register_forward_pre_hook(record, with_kwargs=True)
    model.train(max_epochs=2, batch_size=32, enable_progress_bar=False, train_size=0.8)
    served = np.concatenate([batch.cpu().numpy() for batch in seen])
    assert len(served) >= 2 * int(0.8 * train.n_obs)  # every training cell, both epochs
    assert served.max() == 0.0  # no minibatch ever carried a held-out cell
    predicted = model.predict(
        cell_type_key="cell_type", perturbation_key="condition", target=("B", "stim"), seed=0
    )
    assert predicted.n_obs > 0 and not set(predicted.obs["source_cell"]) & set(held.obs_names)
