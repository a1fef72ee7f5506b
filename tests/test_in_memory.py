"""InMemoryDataSplitter: split sizes, the small-last-batch rule, extra tensors, the CSR path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan.data import MIN_BATCH_SIZE, InMemoryDataSplitter, _in_memory, densify_budget_bytes
from michigan.data._in_memory import to_float_tensor_store


def _manager(n_cells: int, sparse_x: bool = False):
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(n_cells, 5)).astype(np.float32)
    counts[:, 0] = np.arange(n_cells)  # gene 0 holds the row number of each cell
    adata = AnnData(sparse.csr_matrix(counts) if sparse_x else counts)
    mg.TCVAE.setup_anndata(adata)
    return mg.TCVAE(adata, n_latent=2, n_hidden=(4,)).adata_manager, counts


def _batches(splitter: InMemoryDataSplitter) -> list[dict[str, torch.Tensor]]:
    splitter.setup()
    return list(splitter.train_dataloader())


@pytest.mark.parametrize(("train_size", "validation_size"), [(1.0, None), (0.8, 0.1), (0.5, 0.5)])
def test_split_sizes_cover_the_cells_once(train_size, validation_size):
    manager, _ = _manager(50)
    splitter = InMemoryDataSplitter(
        manager, train_size=train_size, validation_size=validation_size, batch_size=8
    )
    splitter.setup()
    parts = [splitter.train_idx, splitter.val_idx, splitter.test_idx]
    assert len(splitter.train_idx) == int(np.ceil(train_size * 50))
    joined = np.concatenate(parts)
    assert sorted(joined) == list(range(50))


@pytest.mark.parametrize(
    ("n_cells", "dropped"), [(21, True), (22, True), (23, False), (24, False)]
)
def test_a_last_batch_below_the_minimum_is_dropped(n_cells, dropped):
    manager, _ = _manager(n_cells)
    sizes = [len(b["X"]) for b in _batches(InMemoryDataSplitter(manager, 1.0, batch_size=10))]
    remainder = n_cells % 10
    assert (remainder < MIN_BATCH_SIZE) == dropped
    expected = [10, 10] + ([] if dropped else [remainder])
    assert sorted(sizes, reverse=True) == expected


@pytest.mark.parametrize("densify_below_bytes", [2**31, 0])  # dense store, per-minibatch CSR
def test_extra_tensors_stay_aligned_with_their_cells(densify_below_bytes):
    manager, counts = _manager(40, sparse_x=True)
    extra = {"code_loc": np.arange(40, dtype=np.float32)[:, None] * 10}
    splitter = InMemoryDataSplitter(
        manager,
        1.0,
        batch_size=16,
        extra_tensors=extra,
        densify_below_bytes=densify_below_bytes,
    )
    batches = _batches(splitter)
    stored = splitter._tensors["X"]
    assert isinstance(stored, torch.Tensor) == (densify_below_bytes > 0)
    seen = []
    for batch in batches:
        rows = batch["X"][:, 0].long().numpy()
        np.testing.assert_array_equal(batch["X"].numpy(), counts[rows])
        np.testing.assert_array_equal(batch["code_loc"][:, 0].numpy(), rows * 10)
        assert batch["X"].dtype == torch.float32 and batch["X"].layout == torch.strided
        seen.extend(rows)
    assert sorted(seen) == list(range(40))


def test_the_default_budget_is_a_quarter_of_the_available_memory_up_to_2_gib(monkeypatch):
    assert densify_budget_bytes(available=4 * 1024**3) == 1024**3
    assert densify_budget_bytes(available=100 * 1024**3) == 2 * 1024**3
    monkeypatch.setattr(_in_memory, "available_memory_bytes", lambda: None)
    assert densify_budget_bytes() == 2 * 1024**3  # memory unknown: the fixed bound


def test_the_memory_budget_decides_dense_or_csr(monkeypatch):
    matrix = sparse.random(100, 50, density=0.1, format="csr", dtype=np.float32, random_state=0)
    dense_bytes = 100 * 50 * 4
    monkeypatch.setattr(_in_memory, "available_memory_bytes", lambda: 4 * dense_bytes + 8)
    store = to_float_tensor_store(matrix)
    assert isinstance(store, torch.Tensor)
    np.testing.assert_array_equal(store.numpy(), matrix.toarray())
    monkeypatch.setattr(_in_memory, "available_memory_bytes", lambda: 4 * dense_bytes - 8)
    assert sparse.issparse(to_float_tensor_store(matrix))
    assert isinstance(to_float_tensor_store(matrix, densify_below_bytes=2**40), torch.Tensor)

    manager, _ = _manager(40, sparse_x=True)  # 40 × 5 float32: 800 bytes dense
    monkeypatch.setattr(_in_memory, "available_memory_bytes", lambda: 4 * 800 - 8)
    splitter = InMemoryDataSplitter(manager, 1.0, batch_size=16)
    splitter.setup()
    assert sparse.issparse(splitter._tensors["X"])
    monkeypatch.setattr(_in_memory, "available_memory_bytes", lambda: 4 * 800 + 8)
    splitter = InMemoryDataSplitter(manager, 1.0, batch_size=16)
    splitter.setup()
    assert isinstance(splitter._tensors["X"], torch.Tensor)


def test_the_available_memory_is_read_from_the_system():
    available = _in_memory.available_memory_bytes()
    assert available is None or available > 0
