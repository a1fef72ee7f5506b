"""Training on and reading a backed AnnData: the same minibatches, codes and cells as in memory."""

from __future__ import annotations

import warnings

import anndata
import h5py
import numpy as np
import pytest
import scvi
import torch
from scipy import sparse

import michigan as mg
from michigan.data import InMemoryDataSplitter, OnDiskMatrix, TensorDictDataset, row_sums

from _helpers import clustered_counts

TINY_TCVAE = {"n_latent": 2, "n_hidden": (8,)}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _written(tmp_path, dense: bool = False, **kwargs):
    adata = clustered_counts(sparse_format=not dense, **kwargs)
    path = tmp_path / ("dense.h5ad" if dense else "csr.h5ad")
    adata.write_h5ad(path)
    return adata, path


@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
def test_rows_come_back_in_the_order_asked_with_repeats(tmp_path, dense):
    adata, path = _written(tmp_path, dense, n_cells=50, n_genes=9)
    expected = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    matrix = OnDiskMatrix(path, "X")
    rows = np.array([41, 3, 3, 0, 49, 17, 18, 19])  # unsorted, a repeat, a contiguous run
    read = matrix.rows(rows)
    assert read.dtype == np.float32 and read.shape == (8, 9)
    np.testing.assert_array_equal(read, expected[rows])
    np.testing.assert_array_equal(np.vstack(list(matrix.iter_blocks(7))), expected)
    np.testing.assert_allclose(row_sums(matrix), expected.sum(axis=1))
    with pytest.raises(IndexError, match=r"\[0, 50\)"):
        matrix.rows([50])


class _CountingDataset:
    """An HDF5 dataset that records the slices read from it."""

    def __init__(self, dataset, reads):
        self._dataset, self._reads = dataset, reads
        self.dtype, self.shape = dataset.dtype, dataset.shape

    def __getitem__(self, key):
        assert isinstance(key, slice) and key.step is None, f"not a plain slice: {key}"
        self._reads.append((key.start, key.stop))
        return self._dataset[key]


@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
def test_a_minibatch_reads_its_rows_and_nothing_else(tmp_path, dense):
    adata, path = _written(tmp_path, dense, n_cells=60, n_genes=7)
    expected = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    matrix = OnDiskMatrix(path, "X")
    element, reads = matrix._element(), []
    if dense:
        matrix._element = lambda: _CountingDataset(element, reads)
    else:
        counted = {key: _CountingDataset(element[key], reads) for key in ("data", "indices")}
        matrix._element = lambda: counted
    rows = np.array([30, 2, 3, 4, 59, 31])
    np.testing.assert_array_equal(matrix.rows(rows), expected[rows])
    if dense:  # runs 2-4, 30-31 and 59, each read once
        assert sorted(reads) == [(2, 5), (30, 32), (59, 60)]
    else:  # the same runs of the values and of the column indices
        pointer = matrix.indptr
        runs = [(pointer[a], pointer[b]) for a, b in [(2, 5), (30, 32), (59, 60)]]
        assert sorted(reads) == sorted([r for r in runs if r[1] > r[0]] * 2)
    reads.clear()
    blocks = list(matrix.iter_blocks(25))
    np.testing.assert_array_equal(np.vstack(blocks), expected)
    assert [len(block) for block in blocks] == [25, 25, 10]


def test_the_file_is_reopened_in_a_new_process_and_not_pickled(tmp_path):
    _, path = _written(tmp_path, n_cells=20, n_genes=5)
    matrix = OnDiskMatrix(path, "X")
    matrix.rows([1])
    state = matrix.__getstate__()
    assert state["_file"] is None and state["_pid"] is None
    matrix._pid = -1  # as after a fork: the next read opens the file again
    np.testing.assert_array_equal(matrix.rows([1]), OnDiskMatrix(path).rows([1]))
    assert matrix._pid > 0


@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
def test_backed_minibatches_equal_the_in_memory_ones(tmp_path, dense):
    adata, path = _written(tmp_path, dense, n_cells=60, n_genes=6)
    backed = anndata.read_h5ad(path, backed="r")
    batches = {}
    for name, data in {"memory": adata, "backed": backed}.items():
        mg.TCVAE.setup_anndata(data)
        manager = mg.TCVAE(data, **TINY_TCVAE).adata_manager
        scvi.settings.seed = 0  # the split and the sampler's order
        splitter = InMemoryDataSplitter(manager, train_size=1.0, batch_size=16)
        splitter.setup()
        batches[name] = [b["X"] for b in splitter.train_dataloader()]
    assert isinstance(splitter._tensors["X"], OnDiskMatrix)
    for in_memory, from_file in zip(batches["memory"], batches["backed"], strict=True):
        torch.testing.assert_close(in_memory, from_file, rtol=0, atol=0)


def _trained_tcvae(data):
    scvi.settings.seed = 0
    mg.TCVAE.setup_anndata(data, batch_key="batch")
    model = mg.TCVAE(data, **TINY_TCVAE)
    model.train(max_epochs=2, batch_size=32, enable_progress_bar=False)
    return model


@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
def test_a_backed_tcvae_learns_the_same_codes_as_in_memory(tmp_path, dense):
    adata, path = _written(tmp_path, dense, n_cells=120, n_genes=10, n_batches=2)
    backed = anndata.read_h5ad(path, backed="r")
    in_memory, from_file = _trained_tcvae(adata), _trained_tcvae(backed)
    # The same seed gives the same minibatches, so the same weights and codes.
    np.testing.assert_allclose(
        from_file.get_latent_representation(), in_memory.get_latent_representation(), atol=1e-6
    )
    np.testing.assert_allclose(
        backed.uns["tcvae_latent_activity"]["kl"], adata.uns["tcvae_latent_activity"]["kl"]
    )
    subset = np.array([7, 3, 100])
    np.testing.assert_allclose(
        from_file.get_latent_representation(indices=subset),
        in_memory.get_latent_representation(indices=subset),
        atol=1e-6,
    )
    loader = from_file._make_data_loader(backed, batch_size=50)
    assert isinstance(loader.dataset, TensorDictDataset)
    assert isinstance(loader.dataset.tensors["X"], OnDiskMatrix)
    assert [len(b["X"]) for b in loader] == [50, 50, 20]
    libraries = from_file._cell_libraries(backed)  # streamed from the file
    np.testing.assert_allclose(libraries, np.asarray(adata.X.sum(axis=1)).ravel())
    twins = from_file.generate(adata=backed, seed=0)
    assert twins.shape == backed.shape and np.isfinite(twins.X).all()
    backed.file.close()


def test_a_backed_michigan_trains_both_stages_and_generates(tmp_path):
    adata, path = _written(tmp_path, n_cells=90, n_genes=8)
    backed = anndata.read_h5ad(path, backed="r")
    models = {}
    for name, data in {"memory": adata, "backed": backed}.items():
        scvi.settings.seed = 0
        mg.MichiGAN.setup_anndata(data)
        model = mg.MichiGAN(
            data, tcvae_kwargs=TINY_TCVAE, generator_hidden=(8,), critic_hidden=(8,), n_features=4
        )
        model.train(
            max_steps=3,
            max_epochs_tcvae=2,
            batch_size=30,
            monitor=False,
            enable_progress_bar=False,
        )
        models[name] = model
    np.testing.assert_allclose(models["backed"].codes_, models["memory"].codes_, atol=1e-6)
    cells = models["backed"].generate(n_samples=11, seed=0, counts=True)
    assert cells.shape == (11, 8) and np.isfinite(cells.X).all()
    assert (np.asarray(cells.layers["counts"]) >= 0).all()
    backed.file.close()


def test_a_csc_file_is_refused_with_the_way_to_rewrite_it(tmp_path):
    adata = clustered_counts(n_cells=30, n_genes=6)
    adata.X = sparse.csc_matrix(adata.X)
    adata.write_h5ad(tmp_path / "csc.h5ad")
    backed = anndata.read_h5ad(tmp_path / "csc.h5ad", backed="r")
    with pytest.raises(ValueError, match=r"CSC \(by gene\).*adata.X = adata.X.tocsr\(\)"):
        mg.TCVAE.setup_anndata(backed)
    assert "_scvi_uuid" not in backed.uns
    backed.file.close()


def test_a_view_of_a_backed_anndata_is_refused_with_the_way_to_subset(tmp_path):
    _, path = _written(tmp_path, n_cells=30, n_genes=6)
    backed = anndata.read_h5ad(path, backed="r")
    with pytest.raises(ValueError, match=r"view of the cells in .*copy\(filename="):
        mg.MichiGAN.setup_anndata(backed[:10])
    backed.file.close()


def test_a_backed_layer_is_read_like_one_in_memory(tmp_path):
    # anndata reads layers into memory when it opens a file backed: only .X stays on disk.
    _, path = _written(tmp_path, n_cells=60, n_genes=6)
    backed = anndata.read_h5ad(path, backed="r")
    assert sparse.issparse(backed.layers["counts"])
    model = _trained_tcvae(backed)
    assert model.get_latent_representation().shape == (60, 2)
    backed.file.close()


def test_reading_a_new_backed_file_needs_it_set_up(tmp_path):
    adata = clustered_counts(n_cells=60, n_genes=8)
    model = _trained_tcvae(adata)
    clustered_counts(n_cells=40, n_genes=8, seed=1).write_h5ad(tmp_path / "new.h5ad")
    new = anndata.read_h5ad(tmp_path / "new.h5ad", backed="r")
    with pytest.raises(ValueError, match=r"not set up.*TCVAE.setup_anndata\(adata.*to_memory"):
        model.get_latent_representation(new)
    assert "_scvi_uuid" not in new.uns
    mg.TCVAE.setup_anndata(new, batch_key="batch")
    in_memory = anndata.read_h5ad(tmp_path / "new.h5ad")
    np.testing.assert_allclose(
        model.get_latent_representation(new),
        model.get_latent_representation(in_memory),
        atol=1e-6,
    )
    new.file.close()


def test_bad_values_in_a_backed_file_are_found_by_the_checks(tmp_path):
    _, path = _written(tmp_path, n_cells=30, n_genes=6)
    with h5py.File(path, "r+") as file:
        file["X/data"][5] = -1.0
    backed = anndata.read_h5ad(path, backed="r")
    mg.TCVAE.setup_anndata(backed)
    with pytest.raises(ValueError, match=r"adata.X holds negative values.*'nb' likelihood"):
        mg.TCVAE(backed, **TINY_TCVAE)
    with pytest.raises(ValueError, match="negative values and cannot be log-normalised"):
        mg.WGANGP.setup_anndata(backed)
        mg.WGANGP(backed)
    backed.file.close()


@pytest.mark.parametrize("model_cls", [mg.WGANGP, mg.InfoWGANGP], ids=["WGANGP", "InfoWGANGP"])
def test_the_other_gans_train_on_a_backed_file(tmp_path, model_cls):
    _, path = _written(tmp_path, n_cells=60, n_genes=7)
    backed = anndata.read_h5ad(path, backed="r")
    scvi.settings.seed = 0
    model_cls.setup_anndata(backed)
    model = model_cls(backed, generator_hidden=(8,), critic_hidden=(8,), n_features=4)
    model.train(max_steps=2, batch_size=20, monitor=False, enable_progress_bar=False)
    cells = model.generate(n_samples=5, seed=0)
    assert cells.shape == (5, 7) and np.isfinite(cells.X).all()
    backed.file.close()
