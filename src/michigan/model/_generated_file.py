"""Generated cells written to an ``.h5ad`` file chunk by chunk, never whole in memory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from anndata.io import write_elem

#: What ``.h5ad`` files written by anndata carry at their root.
H5AD_ENCODING = {"encoding-type": "anndata", "encoding-version": "0.1.0"}
#: Entries per HDF5 chunk of a CSR matrix's ``data`` and ``indices`` (1 MiB of float32).
CSR_CHUNK_ENTRIES = 2**18


def check_output_file(out: str | os.PathLike) -> Path:
    """The path ``out`` if a new ``.h5ad`` file can be written there, else a clear error.

    Examples
    --------
    >>> check_output_file("generated.h5ad")
    PosixPath('generated.h5ad')
    """
    path = Path(out).expanduser()
    if path.suffix != ".h5ad":
        raise ValueError(f"out must be an .h5ad file name, got {str(out)!r}")
    if path.exists():
        raise FileExistsError(f"{path} exists; pass another file name, or delete it first")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"folder {parent} is not writable; pass another path")
    return path


def write_generated_h5ad(
    path: Path,
    chunks: Iterable[Mapping[str, np.ndarray]],
    *,
    obs: pd.DataFrame,
    var_names: pd.Index,
    obsm: Mapping[str, np.ndarray],
    uns: Mapping,
) -> None:
    """Write generated cells to ``path``, one chunk of rows at a time.

    ``chunks`` yields dictionaries of dense row blocks: ``"X"`` and optionally ``"counts"``
    (written to ``.layers["counts"]``). ``.X`` is stored dense, like the ``.X`` that
    ``generate`` returns in memory (generated log-normalised cells are about half non-zero,
    where CSR saves nothing); the counts, mostly zeros, as CSR. Each is written block by
    block (:class:`DenseRowWriter`, :class:`CSRRowWriter`), so that memory holds one block,
    not the file's matrices. A failure removes the partial file.

    Parameters
    ----------
    path
        The new file (checked by :func:`check_output_file`).
    chunks
        Row blocks in order; their rows add up to ``len(obs)``.
    obs, var_names, obsm, uns
        The cells' annotations (small: one row or a few numbers per cell).
    """
    n_cells, n_genes = len(obs), len(var_names)
    try:
        with h5py.File(path, "w") as file:
            file.attrs.update(H5AD_ENCODING)
            write_elem(file, "obs", obs)
            write_elem(file, "var", pd.DataFrame(index=var_names))
            write_elem(file, "obsm", dict(obsm))
            write_elem(file, "uns", dict(uns))
            for key in ("varm", "obsp", "varp", "layers"):
                write_elem(file, key, {})
            matrices = {"X": DenseRowWriter(file, "X", (n_cells, n_genes))}
            for chunk in chunks:
                for key, block in chunk.items():
                    if key not in matrices:
                        matrices[key] = CSRRowWriter(file["layers"], key, (n_cells, n_genes))
                    matrices[key].append(block)
            for key, writer in matrices.items():
                if writer.n_rows != n_cells:
                    raise RuntimeError(f"wrote {writer.n_rows} rows of {key} for {n_cells} cells")
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class DenseRowWriter:
    """A dense matrix in an HDF5 file (anndata's encoding), written a block of rows at a time.

    Parameters
    ----------
    parent
        HDF5 group to create the matrix in.
    key
        Name of the matrix.
    shape
        ``(n_rows, n_columns)`` of the finished matrix.
    """

    def __init__(self, parent: h5py.Group, key: str, shape: tuple[int, int]):
        rows_per_chunk = max(1, min(shape[0], 2**18 // max(shape[1], 1)))
        self._matrix = parent.create_dataset(
            key, shape=shape, dtype=np.float32, chunks=(rows_per_chunk, max(shape[1], 1))
        )
        self._matrix.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
        self.n_rows = 0

    def append(self, block: np.ndarray) -> None:
        """Write the rows of a block after those already written."""
        self._matrix[self.n_rows : self.n_rows + len(block)] = block
        self.n_rows += len(block)


class CSRRowWriter:
    """A CSR matrix in an HDF5 group (anndata's encoding), written a block of rows at a time.

    The row pointer is written as rows arrive and never read back, so appending costs the
    block, not the rows already written.

    Parameters
    ----------
    parent
        HDF5 group to create the matrix in.
    key
        Name of the matrix (``"X"``, or a layer's name under ``layers``).
    shape
        ``(n_rows, n_columns)`` of the finished matrix.
    """

    def __init__(self, parent: h5py.Group, key: str, shape: tuple[int, int]):
        group = parent.create_group(key)
        group.attrs.update(
            {"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": shape}
        )
        growing = {"shape": (0,), "maxshape": (None,), "chunks": (CSR_CHUNK_ENTRIES,)}
        self._data = group.create_dataset("data", dtype=np.float32, **growing)
        self._indices = group.create_dataset("indices", dtype=np.int32, **growing)
        self._indptr = group.create_dataset("indptr", shape=(shape[0] + 1,), dtype=np.int64)
        self._indptr[0] = 0
        self.n_rows, self.n_entries = 0, 0

    def append(self, block: np.ndarray) -> None:
        """Append the rows of a dense block, keeping its non-zero entries."""
        block = np.asarray(block, dtype=np.float32)
        nonzero = block != 0
        values, columns = block[nonzero], np.nonzero(nonzero)[1].astype(np.int32)
        end = self.n_entries + len(values)
        for dataset, new in ((self._data, values), (self._indices, columns)):
            dataset.resize((end,))
            dataset[self.n_entries : end] = new
        row_ends = self.n_entries + np.cumsum(nonzero.sum(axis=1), dtype=np.int64)
        self._indptr[self.n_rows + 1 : self.n_rows + 1 + len(block)] = row_ends
        self.n_rows, self.n_entries = self.n_rows + len(block), end
