"""A data splitter that feeds minibatches from tensors held in memory (or from the file)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from scvi.data import AnnDataManager
from scvi.dataloaders import BatchDistributedSampler, DataSplitter
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ._on_disk import OnDiskMatrix, is_on_disk

#: The most memory a densified copy of a sparse matrix may take (float32 bytes): sparse data
#: whose dense copy is larger stay sparse and each minibatch is densified on its own.
DEFAULT_DENSIFY_BELOW_BYTES = 2 * 1024**3
#: Share of the memory available when training starts that a densified copy may take.
DENSIFY_MEMORY_FRACTION = 0.25

#: The smallest minibatch the minibatch-stratified estimator can work with.
MIN_BATCH_SIZE = 3

ArrayLike = np.ndarray | sparse.spmatrix | sparse.sparray | torch.Tensor


def available_memory_bytes() -> int | None:
    """Memory available without swapping (Linux ``MemAvailable``); ``None`` if unknown."""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def densify_budget_bytes(available: int | None = None) -> int:
    """The default bound of a densified copy: 2 GiB, or a quarter of the available memory.

    Parameters
    ----------
    available
        Available memory in bytes; read from the system when ``None``.

    Returns
    -------
    ``min(DEFAULT_DENSIFY_BELOW_BYTES, DENSIFY_MEMORY_FRACTION × available)`` (2 GiB when the
    available memory cannot be read).

    Examples
    --------
    >>> densify_budget_bytes(available=4 * 1024**3)  # a quarter of 4 GiB
    1073741824
    >>> densify_budget_bytes(available=64 * 1024**3)  # capped at 2 GiB
    2147483648
    """
    if available is None:
        available = available_memory_bytes()
    if available is None:
        return DEFAULT_DENSIFY_BELOW_BYTES
    return int(min(DEFAULT_DENSIFY_BELOW_BYTES, DENSIFY_MEMORY_FRACTION * available))


def to_float_tensor_store(
    matrix: ArrayLike, densify_below_bytes: int | None = None
) -> torch.Tensor | sparse.csr_matrix | OnDiskMatrix:
    """Hold a cells × features matrix as a float32 tensor, as CSR, or leave it in its file.

    Parameters
    ----------
    matrix
        Dense or sparse matrix with one row per cell, in memory or backed (the ``.X`` of an
        AnnData read with ``backed="r"``, which stays in the file).
    densify_below_bytes
        Densify a sparse matrix when ``n_rows × n_cols × 4`` bytes stay below this bound;
        ``None`` takes :func:`densify_budget_bytes`.

    Returns
    -------
    A dense :class:`torch.Tensor` (float32), a :class:`scipy.sparse.csr_matrix` (float32) or
    an :class:`~michigan.data.OnDiskMatrix`.

    Examples
    --------
    >>> store = to_float_tensor_store(adata.X, densify_below_bytes=0)  # CSR stays CSR
    """
    if isinstance(matrix, torch.Tensor):
        return matrix.float()
    if is_on_disk(matrix):
        return OnDiskMatrix.from_backed(matrix)
    if sparse.issparse(matrix):
        if densify_below_bytes is None:
            densify_below_bytes = densify_budget_bytes()
        n_bytes = matrix.shape[0] * matrix.shape[1] * 4
        if n_bytes < densify_below_bytes:
            return torch.from_numpy(np.asarray(matrix.toarray(), dtype=np.float32))
        return sparse.csr_matrix(matrix, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))


class TensorDictDataset(Dataset):
    """Rows of several aligned matrices, fetched a whole minibatch at a time.

    ``dataset[indices]`` takes a list of row indices (as yielded by a
    :class:`~torch.utils.data.BatchSampler`) and returns a dict of tensors, which is the batch
    format of scvi-tools' data loaders. Sparse matrices are densified per minibatch; the rows
    of a matrix left in its file are read per minibatch (sorted, then put back in the order
    asked for).

    Parameters
    ----------
    tensors
        Mapping from registry key to a matrix (dense tensor, CSR or
        :class:`~michigan.data.OnDiskMatrix`) with one row per cell.
    indices
        The rows of the full matrices that make up this dataset.
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor | sparse.csr_matrix | OnDiskMatrix],
        indices: Sequence[int] | np.ndarray,
    ):
        self.tensors = dict(tensors)
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        rows = self.indices[np.asarray(positions, dtype=np.int64)]
        batch = {}
        for key, values in self.tensors.items():
            if isinstance(values, torch.Tensor):
                batch[key] = values[torch.from_numpy(rows)]
            elif isinstance(values, OnDiskMatrix):
                batch[key] = torch.from_numpy(values.rows(rows))
            else:
                batch[key] = torch.from_numpy(values[rows].toarray())
        return batch


def registry_tensors(
    adata_manager: AnnDataManager,
    densify_below_bytes: int | None = None,
) -> dict[str, torch.Tensor | sparse.csr_matrix | OnDiskMatrix]:
    """Read every registered field of an AnnData once into memory (a backed ``.X`` excepted).

    Parameters
    ----------
    adata_manager
        Manager created by ``setup_anndata``.
    densify_below_bytes
        See :func:`to_float_tensor_store`.

    Returns
    -------
    Mapping from registry key (``"X"``, ``"batch"``, ``"labels"``, ...) to tensors.

    Examples
    --------
    >>> tensors = registry_tensors(model.adata_manager)
    >>> tensors["X"].shape
    """
    tensors = {}
    for key in adata_manager.data_registry:
        values = adata_manager.get_from_registry(key)
        if hasattr(values, "to_numpy"):
            values = values.to_numpy()
        tensors[key] = to_float_tensor_store(values, densify_below_bytes)
    return tensors


class InMemoryDataSplitter(DataSplitter):
    """Train/validation/test split that serves minibatches from memory.

    A drop-in replacement for :class:`scvi.dataloaders.DataSplitter`: the same split (and
    the same seed handling), but the registered fields are read from the AnnData once and
    every minibatch is a gather from tensors, with no per-batch AnnData indexing. When the
    data are too large to densify (see ``densify_below_bytes``) they stay in CSR form and are
    densified one minibatch at a time. The ``.X`` of a backed AnnData
    (``anndata.read_h5ad(path, backed="r")``) stays in its file: each minibatch's rows are
    read from it (:class:`~michigan.data.OnDiskMatrix`); the minibatches are the same as in
    memory.

    A last minibatch of fewer than :data:`MIN_BATCH_SIZE` cells is dropped, as the
    minibatch-stratified estimator needs at least three cells.

    Parameters
    ----------
    adata_manager
        Manager created by ``setup_anndata``.
    train_size, validation_size, shuffle_set_split, external_indexing
        As in :class:`scvi.dataloaders.DataSplitter`.
    batch_size
        Minibatch size.
    distributed_sampler
        Shard minibatches across processes (set by scvi-tools for DDP strategies).
    load_sparse_tensor
        Accepted for compatibility with :class:`~scvi.dataloaders.DataSplitter`; unused.
    extra_tensors
        Further per-cell matrices (aligned with the AnnData's rows) to serve with each batch.
    densify_below_bytes
        Densify sparse data once when their dense float32 copy takes less than this many
        bytes; ``None`` (the default) takes :func:`densify_budget_bytes`, 2 GiB or a quarter
        of the memory available, whichever is smaller. 0 keeps them sparse.
    **kwargs
        Passed on to :class:`~scvi.dataloaders.DataSplitter`.
    """

    def __init__(
        self,
        adata_manager: AnnDataManager,
        train_size: float | None = None,
        validation_size: float | None = None,
        shuffle_set_split: bool = True,
        batch_size: int = 128,
        distributed_sampler: bool = False,
        load_sparse_tensor: bool = False,
        external_indexing: list[np.ndarray] | None = None,
        extra_tensors: Mapping[str, ArrayLike] | None = None,
        densify_below_bytes: int | None = None,
        **kwargs,
    ):
        kwargs.pop("drop_last", None)
        super().__init__(
            adata_manager,
            train_size=train_size,
            validation_size=validation_size,
            shuffle_set_split=shuffle_set_split,
            external_indexing=external_indexing,
            batch_size=batch_size,
            **kwargs,
        )
        self.batch_size = batch_size
        self.distributed_sampler = distributed_sampler
        self.extra_tensors = dict(extra_tensors or {})
        self.densify_below_bytes = densify_below_bytes
        self._tensors: dict[str, torch.Tensor | sparse.csr_matrix | OnDiskMatrix] | None = None

    @property
    def n_obs(self) -> int:
        """Number of cells in the AnnData."""
        return self.adata_manager.adata.n_obs

    def setup(self, stage: str | None = None):
        """Split the cells and read the data into memory (once)."""
        super().setup(stage)
        if self._tensors is None:
            tensors = registry_tensors(self.adata_manager, self.densify_below_bytes)
            for key, values in self.extra_tensors.items():
                tensors[key] = to_float_tensor_store(values, self.densify_below_bytes)
            self._tensors = tensors

    def _dataloader(self, indices: np.ndarray, shuffle: bool) -> DataLoader | None:
        if len(indices) == 0:
            return None
        dataset = TensorDictDataset(self._tensors, indices)
        drop_last = 0 < len(indices) % self.batch_size < MIN_BATCH_SIZE
        if self.distributed_sampler:
            sampler = BatchDistributedSampler(
                dataset, batch_size=self.batch_size, drop_last=drop_last, shuffle=shuffle
            )
        else:
            base = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
            sampler = BatchSampler(base, batch_size=self.batch_size, drop_last=drop_last)
        return DataLoader(dataset, sampler=sampler, batch_size=None, pin_memory=self.pin_memory)

    def train_dataloader(self) -> DataLoader:
        """Shuffled minibatches of the training cells."""
        return self._dataloader(self.train_idx, shuffle=True)

    def val_dataloader(self) -> DataLoader | None:
        """Minibatches of the validation cells, in order."""
        return self._dataloader(self.val_idx, shuffle=False)

    def test_dataloader(self) -> DataLoader | None:
        """Minibatches of the test cells, in order."""
        return self._dataloader(self.test_idx, shuffle=False)
