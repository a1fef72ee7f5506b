"""Rows of a matrix in an ``.h5ad`` file, read one minibatch at a time.

A backed AnnData (``anndata.read_h5ad(path, backed="r")``) keeps ``.X`` in the file. The
models read it here: each minibatch's rows are sorted, read as slices of the file (contiguous
rows merged into one slice) and put back in the order asked for, so a minibatch
read from the file holds exactly the cells, in the order, that it would hold in memory. The
file is opened once per process (after a fork or in a DDP process, again), never shared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import h5py
import numpy as np
from anndata.abc import CSCDataset, CSRDataset
from scipy import sparse

#: Rows read at a time when a whole matrix is streamed (checks, row sums).
STREAM_ROWS = 10_000


def is_on_disk(matrix) -> bool:
    """Whether ``matrix`` is a backed AnnData's matrix (an HDF5 dataset, dense or sparse).

    Examples
    --------
    >>> is_on_disk(anndata.read_h5ad("cells.h5ad", backed="r").X)
    True
    """
    return isinstance(matrix, h5py.Dataset | CSRDataset | CSCDataset | OnDiskMatrix)


class OnDiskMatrix:
    """A cells × genes matrix in an HDF5 file (CSR or dense), read by rows.

    Parameters
    ----------
    filename
        The ``.h5ad`` file.
    key
        Path of the matrix in the file, e.g. ``"X"``.

    Examples
    --------
    >>> matrix = OnDiskMatrix("cells.h5ad", "X")
    >>> matrix.rows([5, 0, 2]).shape  # dense float32, rows in the order asked for
    (3, 2000)
    """

    def __init__(self, filename: str | os.PathLike, key: str = "X"):
        self.filename = os.fspath(filename)
        self.key = key
        self._file: h5py.File | None = None
        self._pid: int | None = None
        element = self._element()
        encoding = element.attrs.get("encoding-type", "array")
        if isinstance(encoding, bytes):
            encoding = encoding.decode()
        if encoding == "csc_matrix":
            raise ValueError(
                f"{key} in {self.filename} is stored as CSC (by gene), which cannot be read a "
                "cell at a time; write it by cell (CSR) once: adata = anndata.read_h5ad(path); "
                "adata.X = adata.X.tocsr(); adata.write_h5ad(path), then open it backed again"
            )
        self.is_sparse = encoding == "csr_matrix"
        if self.is_sparse:
            self.shape = tuple(int(n) for n in element.attrs["shape"])
            self.dtype = element["data"].dtype
            # The row pointer stays in memory: 8 bytes per cell (8 MB for a million cells).
            self.indptr = element["indptr"][:].astype(np.int64)
        else:
            if not isinstance(element, h5py.Dataset) or element.ndim != 2:
                raise ValueError(
                    f"{key} in {self.filename} is neither a dense matrix nor CSR "
                    f"(encoding {encoding!r}); write it as one of those"
                )
            self.shape = tuple(int(n) for n in element.shape)
            self.dtype = element.dtype

    @classmethod
    def from_backed(cls, matrix) -> OnDiskMatrix:
        """The :class:`OnDiskMatrix` of a backed AnnData's ``.X`` (as ``adata.X`` returns it).

        Examples
        --------
        >>> adata = anndata.read_h5ad("cells.h5ad", backed="r")
        >>> OnDiskMatrix.from_backed(adata.X)
        """
        if isinstance(matrix, OnDiskMatrix):
            return matrix
        if isinstance(matrix, CSRDataset | CSCDataset):
            group = matrix.group
            return cls(group.file.filename, group.name)
        if isinstance(matrix, h5py.Dataset):
            return cls(matrix.file.filename, matrix.name)
        raise TypeError(f"expected a backed matrix, got {type(matrix).__name__}")

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None  # each process opens the file itself
        return state

    def _element(self):
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.filename, "r")
            self._pid = os.getpid()
        return self._file[self.key]

    def close(self) -> None:
        """Close this process's handle on the file (it reopens when read again)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def rows(self, indices) -> np.ndarray:
        """The rows ``indices`` (in that order, repeats allowed) as a dense float32 array."""
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if len(indices) and (indices.min() < 0 or indices.max() >= self.shape[0]):
            raise IndexError(f"row indices must lie in [0, {self.shape[0]}), got {indices}")
        unique, inverse = np.unique(indices, return_inverse=True)
        block = self.row_block(unique)
        return block[inverse]

    def row_block(self, sorted_rows: np.ndarray) -> np.ndarray:
        """Dense float32 rows for strictly increasing ``sorted_rows``."""
        element = self._element()
        shape = (len(sorted_rows), self.shape[1])
        if len(sorted_rows) == 0:
            return np.zeros(shape, dtype=np.float32)
        if not self.is_sparse:
            starts, stops = _runs(sorted_rows, sorted_rows + 1)
            block = _read_ranges(element, starts, stops, self.shape[1])
            return block.astype(np.float32, copy=False)
        starts, stops = self.indptr[sorted_rows], self.indptr[sorted_rows + 1]
        run_starts, run_stops = _runs(starts, stops)
        values = _read_ranges(element["data"], run_starts, run_stops)
        columns = _read_ranges(element["indices"], run_starts, run_stops)
        row_pointer = np.r_[0, np.cumsum(stops - starts)]
        block = sparse.csr_matrix((values, columns, row_pointer), shape=shape)
        return block.toarray().astype(np.float32, copy=False)  # duplicates summed, as scipy does

    def iter_blocks(self, block_rows: int = STREAM_ROWS) -> Iterator[np.ndarray]:
        """Consecutive blocks of dense rows, first to last."""
        for start in range(0, self.shape[0], block_rows):
            stop = min(start + block_rows, self.shape[0])
            yield self.row_block(np.arange(start, stop))


def _runs(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge ranges ``[starts[i], stops[i])`` (increasing) that touch into longer runs."""
    keep = stops > starts
    starts, stops = starts[keep], stops[keep]
    if len(starts) == 0:
        return starts, stops
    breaks = np.flatnonzero(starts[1:] != stops[:-1]) + 1
    return starts[np.r_[0, breaks]], stops[np.r_[breaks - 1, len(stops) - 1]]


def _read_ranges(
    dataset: h5py.Dataset, starts: np.ndarray, stops: np.ndarray, n_cols: int | None = None
) -> np.ndarray:
    """The ranges ``[starts[i], stops[i])`` of the first axis, concatenated.

    Each range is read as a plain slice. One HDF5 selection holding the union of all ranges
    reads the same bytes, but HDF5 maps such a selection onto the dataset's chunks at a cost
    that grows with the size of the dataset: 256 random rows of a million-cell CSR file took
    15 ms that way against 3-5 ms as slices (docs/large_data.md).
    """
    lengths = stops - starts
    total = int(lengths.sum())
    shape = (total,) if n_cols is None else (total, n_cols)
    out = np.empty(shape, dtype=dataset.dtype)
    position = 0
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        out[position : position + stop - start] = dataset[start:stop]
        position += stop - start
    return out


def iter_row_blocks(matrix, block_rows: int = STREAM_ROWS) -> Iterator:
    """Consecutive row blocks of any matrix: in memory (as it is) or backed (read per block).

    Blocks of a backed sparse matrix are CSR; of a backed dense one, numpy arrays.

    Examples
    --------
    >>> n_nonzero = sum(block.nnz for block in iter_row_blocks(backed.X))
    """
    if isinstance(matrix, OnDiskMatrix):
        yield from matrix.iter_blocks(block_rows)
        return
    if is_on_disk(matrix):
        for start in range(0, matrix.shape[0], block_rows):
            block = matrix[start : start + block_rows]
            yield block if sparse.issparse(block) else np.asarray(block)
        return
    yield matrix


def row_sums(matrix) -> np.ndarray:
    """Sum of each row (float64), streamed over a backed matrix.

    Examples
    --------
    >>> library = row_sums(adata.X)  # in memory or backed
    """
    sums = [
        np.asarray(block.sum(axis=1), dtype=np.float64).ravel()
        for block in iter_row_blocks(matrix)
    ]
    return np.concatenate(sums) if sums else np.zeros(0)
