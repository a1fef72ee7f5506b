"""Generation straight to an .h5ad file: the same cells as in memory, one batch at a time."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scvi
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan._normalize import log_normalize

TINY = {"generator_hidden": (16,), "critic_hidden": (16,), "n_features": 4, "n_noise": 6}


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    scvi.settings.seed = 0
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(1.0, 2.0, size=(1, 15)), size=(80, 15)).astype(np.float32)
    adata = AnnData(counts)
    adata.layers["counts"] = counts.copy()
    adata.obsm["X_code"] = rng.normal(size=(80, 2)).astype(np.float32)
    mg.MichiGAN.setup_anndata(adata, layer="counts")
    model = mg.MichiGAN(adata, representation="X_code", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(max_steps=3, batch_size=40, monitor=False, enable_progress_bar=False)
    return model


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def test_file_holds_the_cells_generate_returns_in_memory(model, tmp_path):
    path = tmp_path / "cells.h5ad"
    in_memory = model.generate(n_samples=250, seed=3, counts=True, batch_size=64)
    on_disk = model.generate(n_samples=250, seed=3, counts=True, batch_size=64, out=path)
    assert on_disk.isbacked and on_disk.filename == path
    loaded = on_disk.to_memory()
    assert not sparse.issparse(loaded.X) and sparse.issparse(loaded.layers["counts"])
    np.testing.assert_allclose(_dense(loaded.X), in_memory.X, rtol=1e-6)
    np.testing.assert_array_equal(_dense(loaded.layers["counts"]), in_memory.layers["counts"])
    np.testing.assert_array_equal(loaded.obsm["X_michigan"], in_memory.obsm["X_michigan"])
    assert list(loaded.obs_names) == list(in_memory.obs_names)
    assert list(loaded.var_names) == list(in_memory.var_names)
    np.testing.assert_array_equal(loaded.obs["library_size"], in_memory.obs["library_size"])
    assert loaded.uns["michigan"]["seed"] == 3
    # every cell is its drawn counts, log-normalised
    np.testing.assert_allclose(
        _dense(loaded.X), log_normalize(_dense(loaded.layers["counts"])), rtol=1e-5, atol=1e-6
    )


def test_the_batch_size_does_not_change_the_cells(model):
    small = model.generate(n_samples=50, seed=1, batch_size=7, counts=True)
    large = model.generate(n_samples=50, seed=1, batch_size=1024, counts=True)
    np.testing.assert_allclose(small.X, large.X, rtol=1e-6)
    np.testing.assert_array_equal(small.layers["counts"], large.layers["counts"])


def test_twins_into_a_layer_and_a_file(model, tmp_path):
    adata = model.adata.copy()
    on_disk = model.generate(adata=adata, seed=0, inplace=True, out=tmp_path / "twins.h5ad")
    assert on_disk.n_obs == adata.n_obs
    np.testing.assert_allclose(_dense(adata.layers["michigan_generated"]), _dense(on_disk.X[:]))


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("cells.csv", ValueError, "must be an .h5ad file"),
        ("missing/cells.h5ad", FileNotFoundError, "does not exist"),
        ("exists.h5ad", FileExistsError, "exists"),
    ],
)
def test_bad_output_paths_raise_before_generating(model, tmp_path, name, error, match):
    (tmp_path / "exists.h5ad").write_text("")
    with pytest.raises(error, match=match):
        model.generate(n_samples=5, seed=0, out=tmp_path / name)
    assert (tmp_path / "exists.h5ad").read_text() == ""


def test_a_failure_while_writing_leaves_no_partial_file(model, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        yield {"X": np.zeros((2, model.module.n_genes), dtype=np.float32)}
        raise RuntimeError("generator failed")

    monkeypatch.setattr(type(model), "_cell_blocks", broken)
    with pytest.raises(RuntimeError, match="generator failed"):
        model.generate(n_samples=5, seed=0, out=tmp_path / "cells.h5ad")
    assert not (tmp_path / "cells.h5ad").exists()
