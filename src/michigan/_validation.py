"""Checks of user input that fail early, with a message that names the problem and the fix.

Every check here reads the AnnData and never writes to it, so a call that raises leaves the
user's data unchanged.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence

import numpy as np
from anndata import AnnData
from scipy import sparse

#: Rows checked at a time, so that validating a large dense matrix needs little extra memory.
CHUNK_ROWS = 10_000


def _where(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "adata.X"


def get_matrix(adata: AnnData, layer: str | None = None):
    """The matrix a model reads: ``adata.X`` or ``adata.layers[layer]``, checked to exist."""
    if not isinstance(adata, AnnData):
        raise TypeError(
            f"expected an AnnData, got {type(adata).__name__}; wrap your matrix with "
            "anndata.AnnData(X)"
        )
    if layer is None:
        if adata.X is None:
            raise ValueError("adata.X is empty; pass layer=... to name the layer with the data")
        return adata.X
    if layer not in adata.layers:
        available = ", ".join(map(repr, adata.layers.keys())) or "none"
        raise ValueError(
            f"layer {layer!r} is not in adata.layers (available: {available}); pass one of "
            "those, or layer=None to use adata.X"
        )
    return adata.layers[layer]


def _value_chunks(matrix) -> Iterator[np.ndarray]:
    """The stored values of a matrix, a block of rows at a time (backed ones streamed)."""
    if sparse.issparse(matrix):
        yield matrix.data
        return
    from .data import is_on_disk, iter_row_blocks  # scvi-free callers stay light

    if is_on_disk(matrix):
        for block in iter_row_blocks(matrix, CHUNK_ROWS):
            yield block.data if sparse.issparse(block) else block
        return
    if not hasattr(matrix, "shape") or not hasattr(matrix, "dtype"):
        raise TypeError(
            f"the expression matrix is a {type(matrix).__name__}; use a numpy array or a "
            "scipy sparse matrix"
        )
    for start in range(0, matrix.shape[0], CHUNK_ROWS):
        yield np.asarray(matrix[start : start + CHUNK_ROWS])


def validate_expression(adata: AnnData, layer: str | None = None, min_genes: int = 2) -> None:
    """Check that the expression matrix is non-empty, numeric and finite.

    Parameters
    ----------
    adata
        The data.
    layer
        Layer holding the expression, or ``None`` for ``adata.X``.
    min_genes
        Fewest genes a model can be trained on.
    """
    matrix = get_matrix(adata, layer)
    if adata.n_obs == 0:
        raise ValueError("the AnnData has no cells; subset it to a non-empty set of cells")
    if adata.n_vars < min_genes:
        raise ValueError(
            f"the AnnData has {adata.n_vars} gene(s); at least {min_genes} are needed to learn "
            "a representation — keep more genes (e.g. the highly variable ones)"
        )
    dtype = getattr(matrix, "dtype", None)
    if dtype is None or not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        raise TypeError(
            f"{_where(layer)} has non-numeric dtype {dtype}; convert it with "
            "adata.X = adata.X.astype(np.float32) (or the layer likewise)"
        )
    for values in _value_chunks(matrix):
        if not np.isfinite(values).all():
            raise ValueError(
                f"{_where(layer)} holds NaN or infinite values; remove or impute them (for "
                "example np.nan_to_num) before setting up the model"
            )


def has_negative_values(adata: AnnData, layer: str | None = None) -> bool:
    """Whether the matrix holds a negative value (read a block of rows at a time)."""
    return any(
        values.size and values.min() < 0 for values in _value_chunks(get_matrix(adata, layer))
    )


def validate_counts(adata: AnnData, layer: str | None, likelihood: str) -> None:
    """Check that the matrix holds non-negative integers, as count likelihoods need."""
    matrix = get_matrix(adata, layer)
    for values in _value_chunks(matrix):
        if (values < 0).any():
            raise ValueError(
                f"{_where(layer)} holds negative values; the {likelihood!r} likelihood needs "
                "raw counts — set up the layer with the counts, or pass "
                "gene_likelihood='normal' for processed data"
            )
        if not np.array_equal(values, np.round(values)):
            raise ValueError(
                f"{_where(layer)} holds non-integer values; the {likelihood!r} likelihood needs "
                "raw counts — set up the layer with the counts, or pass "
                "gene_likelihood='normal' for processed data"
            )


def validate_obs_keys(adata: AnnData, keys: Sequence[str | None]) -> None:
    """Check that every named ``.obs`` column exists."""
    for key in keys:
        if key is not None and key not in adata.obs:
            raise ValueError(
                f"{key!r} is not a column of adata.obs (columns: "
                f"{', '.join(map(repr, adata.obs.columns)) or 'none'}); pass an existing column"
            )


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Check that ``value`` is an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_non_negative(value, name: str, *, strict: bool = False) -> float:
    """Check that ``value`` is a finite number of at least 0 (above 0 when ``strict``)."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        relation = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be a finite number {relation}, got {value}")
    return float(value)


def check_real(value, name: str) -> float:
    """Check that ``value`` is a finite real number."""
    if not _is_real(value) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def check_probability(value, name: str) -> float:
    """Check that ``value`` is a probability, a number in [0, 1]."""
    if not _is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"{name} must be a probability in [0, 1], got {value!r}; pass a value between 0 and 1"
        )
    return float(value)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_codes(codes, n_dims: int, what: str, dtype=np.float32) -> np.ndarray:
    """Codes as a finite array of shape ``(n, n_dims)``; a single code may be 1-D.

    ``what`` names a column in the error (e.g. ``"latent"``).
    """
    codes = np.asarray(codes, dtype=dtype)
    if codes.ndim == 1:
        codes = codes[None, :]
    if codes.ndim != 2 or codes.shape[1] != n_dims:
        raise ValueError(
            f"codes must have shape (n, {n_dims}): one row per cell, one column per {what}; "
            f"got shape {codes.shape}"
        )
    if not np.isfinite(codes).all():
        raise ValueError("codes hold NaN or infinite values; pass finite codes")
    return codes


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(str(choice) for choice in choices)
        raise ValueError(f"unknown {name} {value!r}; choose one of {options}")
    return value
