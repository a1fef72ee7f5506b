"""Coverage of the real cells' labelled groups by generated cells."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from michigan.metrics import label_coverage


def _groups(n_per_group: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = {"a": 0.0, "b": 10.0, "c": -10.0}
    cells = np.vstack([rng.normal(c, size=(n_per_group, 6)) for c in centres.values()])
    return cells, [label for label in centres for _ in range(n_per_group)]


def test_cells_from_every_group_cover_every_group_in_its_share():
    real, labels = _groups(100, seed=0)
    generated, _ = _groups(50, seed=1)
    table = label_coverage(real, generated, labels, n_pcs=4)
    assert set(table.index) == {"a", "b", "c"}
    np.testing.assert_allclose(table["real_share"], 1 / 3)
    np.testing.assert_allclose(table["ratio"], 1.0, atol=1e-12)
    assert table["generated_share"].sum() == pytest.approx(1.0)


def test_generating_one_of_two_groups_leaves_the_other_at_zero():
    real, labels = _groups(100, seed=0)
    real, labels = real[:200], labels[:200]
    only_a = np.random.default_rng(2).normal(size=(80, 6))
    table = label_coverage(real, only_a, labels, n_pcs=4)
    assert table.loc["b", "generated_share"] == 0.0
    assert table.loc["a", "ratio"] == pytest.approx(2.0)
    assert table.index[0] == "b"  # the least covered first


def test_labels_from_an_obs_key_match_labels_given_directly():
    real, labels = _groups(60, seed=3)
    generated, _ = _groups(30, seed=4)
    adata = ad.AnnData(
        real, obs=pd.DataFrame({"type": labels}, index=[str(i) for i in range(180)])
    )
    from_key = label_coverage(adata, generated, "type", n_pcs=4)
    pd.testing.assert_frame_equal(from_key, label_coverage(real, generated, labels, n_pcs=4))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("type", "is an .obs key, which needs an AnnData"),
        (["a"] * 5, "labels has 5 entries but there are 180 real cells"),
        (["a"] * 179 + [None], "missing values"),
    ],
)
def test_bad_labels_are_named(labels, message):
    real, _ = _groups(60, seed=5)
    with pytest.raises(ValueError, match=message):
        label_coverage(real, real, labels, n_pcs=4)


def test_an_absent_obs_key_lists_the_columns():
    real, labels = _groups(20, seed=6)
    adata = ad.AnnData(real, obs=pd.DataFrame({"type": labels}, index=[str(i) for i in range(60)]))
    with pytest.raises(ValueError, match=r"not a column of the real AnnData's \.obs"):
        label_coverage(adata, real, "cell_type", n_pcs=4)
