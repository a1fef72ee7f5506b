"""kNN precision and recall of generated cells."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from michigan.metrics import knn_precision_recall


def _two_modes(n_per_mode: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n_per_mode, 6)), rng.normal(10.0, size=(n_per_mode, 6))])


def test_identical_sets_have_full_precision_and_recall():
    cells = _two_modes(150, seed=0)
    assert knn_precision_recall(cells, cells.copy(), n_pcs=4) == (1.0, 1.0)


def test_far_disjoint_sets_have_zero_precision_and_recall():
    rng = np.random.default_rng(1)
    real, far = rng.normal(size=(200, 6)), rng.normal(100.0, size=(200, 6))
    result = knn_precision_recall(real, far, n_pcs=4)
    assert result.precision == 0.0 and result.recall == 0.0


def test_mode_collapse_keeps_precision_and_halves_recall():
    real = _two_modes(300, seed=2)
    collapsed = np.random.default_rng(3).normal(size=(600, 6))
    precision, recall = knn_precision_recall(real, collapsed, n_pcs=4)
    assert precision > 0.9
    assert 0.35 < recall < 0.6  # the generated mode covers about half of the real cells


def test_independent_samples_of_one_distribution_score_high_and_symmetric():
    real, other = _two_modes(300, seed=4), _two_modes(300, seed=5)
    forward = knn_precision_recall(real, other, n_pcs=4)
    backward = knn_precision_recall(other, real, n_pcs=4)
    assert forward.precision > 0.7 and forward.recall > 0.7
    assert forward.precision == pytest.approx(backward.recall)
    assert forward.recall == pytest.approx(backward.precision)


def test_sides_are_balanced_and_sparse_anndata_matches_dense():
    real, generated = _two_modes(200, seed=6), _two_modes(120, seed=7)
    dense = knn_precision_recall(real, generated, n_pcs=4, n_cells=100, seed=3)
    real_adata = ad.AnnData(np.zeros_like(real))
    gen_adata = ad.AnnData(np.zeros_like(generated))
    real_adata.layers["x"] = sparse.csr_matrix(np.clip(real, 0, None))
    gen_adata.layers["x"] = sparse.csr_matrix(np.clip(generated, 0, None))
    clipped = knn_precision_recall(
        np.clip(real, 0, None), np.clip(generated, 0, None), n_pcs=4, n_cells=100, seed=3
    )
    from_sparse = knn_precision_recall(
        real_adata, gen_adata, layer="x", n_pcs=4, n_cells=100, seed=3
    )
    assert from_sparse.precision == pytest.approx(clipped.precision, abs=0.02)
    assert from_sparse.recall == pytest.approx(clipped.recall, abs=0.02)
    assert 0.0 <= dense.precision <= 1.0 and 0.0 <= dense.recall <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": 2.5}, "k must be a positive integer"),
        ({"k": 10, "n_cells": 10}, "only 10 cells per side for k=10"),
        ({"chunk_size": 0}, "chunk_size must be at least 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    cells = _two_modes(50, seed=8)
    with pytest.raises(ValueError, match=message):
        knn_precision_recall(cells, cells, n_pcs=4, **kwargs)
