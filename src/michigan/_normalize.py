"""Log-normalisation of counts: ``log1p(target_sum · x / Σx)`` per cell, in one place."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

#: Total per cell before ``log1p`` (as ``sc.pp.normalize_total(target_sum=1e4)``).
TARGET_SUM = 1e4

#: Smallest library used as a divisor: a cell without counts stays at 0.
_MIN_LIBRARY = 1e-12


def log_normalize(x, target_sum: float = TARGET_SUM, dtype=np.float32):
    """``log1p(target_sum · x / Σx)`` per cell (row), as ``normalize_total`` then ``log1p``.

    Parameters
    ----------
    x
        Cells × genes counts: a :class:`torch.Tensor`, a numpy array or a scipy sparse matrix.
    target_sum
        Total per cell before ``log1p``.
    dtype
        Data type of a numpy or sparse result (a tensor keeps its own).

    Returns
    -------
    The log-normalised matrix, of the input's kind (a tensor for a tensor, CSR for a sparse
    matrix, a dense array otherwise). A cell without counts stays at 0.

    Examples
    --------
    >>> import numpy as np
    >>> log_normalize(np.array([[1.0, 3.0]]), target_sum=4.0)
    array([[0.6931472, 1.3862944]], dtype=float32)
    """
    if isinstance(x, torch.Tensor):
        library = x.sum(-1, keepdim=True).clamp_min(_MIN_LIBRARY)
        return torch.log1p(x * (target_sum / library))
    if sparse.issparse(x):
        totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
        scaled = sparse.diags(target_sum / np.maximum(totals, _MIN_LIBRARY)) @ sparse.csr_matrix(x)
        scaled = sparse.csr_matrix(scaled, dtype=dtype)
        scaled.data = np.log1p(scaled.data)
        return scaled
    dense = np.asarray(x, dtype=np.float64)
    totals = np.maximum(dense.sum(axis=1, keepdims=True), _MIN_LIBRARY)
    return np.log1p(dense * (target_sum / totals)).astype(dtype)
