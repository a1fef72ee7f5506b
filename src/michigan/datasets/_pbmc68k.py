"""Counts of the small PBMC data set that ships inside scanpy (no download)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

#: scanpy normalised every cell of pbmc68k_reduced to this many counts before log1p.
_TARGET_SUM = 1e4
#: Largest distance to an integer tolerated in the rebuilt counts (float32 round-off).
_INTEGER_TOLERANCE = 0.25


def pbmc68k() -> AnnData:
    """700 PBMCs from scanpy's ``pbmc68k_reduced`` with their integer counts rebuilt.

    scanpy ships a 700-cell subset of Zheng et al. (2017), :func:`scanpy.datasets.pbmc68k_reduced`,
    whose ``.raw`` holds ``log1p(counts / n_counts * 1e4)`` for 765 genes. The counts are
    rebuilt as ``round(expm1(raw.X) * n_counts / 1e4)``; before rounding they lie within
    float32 round-off of integers, which this function checks. ``n_counts`` is the cell's total
    over *all* genes of the original data, so the rebuilt rows sum to a fraction of it
    (about 10–30 %): only 765 genes were kept.

    Returns
    -------
    AnnData of 700 cells × 765 genes (the genes of ``.raw``) with integer counts (CSR) in
    ``.X`` and ``.layers["counts"]``, the original log-normalised values in
    ``.layers["logcounts"]``, and scanpy's annotations: ``.obs`` (``bulk_labels``, ``louvain``,
    ``n_counts``, ``phase``, ...), ``.obsm["X_umap"]`` and ``.obsm["X_pca"]``, and the colour
    palettes in ``.uns``.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.pbmc68k()
    >>> adata.shape
    (700, 765)
    >>> adata.obs["bulk_labels"].nunique()
    10
    """
    import scanpy as sc

    reduced = sc.datasets.pbmc68k_reduced()
    logcounts = sp.csr_matrix(reduced.raw.X, dtype=np.float32)
    n_counts = reduced.obs["n_counts"].to_numpy(dtype=np.float64)
    scaled = sp.diags(n_counts / _TARGET_SUM) @ logcounts.expm1()
    distance = np.abs(scaled.data - np.rint(scaled.data))
    if distance.size and distance.max() > _INTEGER_TOLERANCE:
        raise RuntimeError(
            "scanpy's pbmc68k_reduced no longer holds log1p(counts / n_counts * 1e4) in .raw "
            f"(rebuilt counts are up to {distance.max():.2f} from integers); counts cannot be "
            "rebuilt from this scanpy version"
        )
    scaled.data = np.rint(scaled.data)
    counts = sp.csr_matrix(scaled, dtype=np.int32)
    counts.eliminate_zeros()
    adata = AnnData(X=counts, obs=reduced.obs.copy(), var=reduced.raw.var.copy())
    adata.layers["counts"] = counts.copy()
    adata.layers["logcounts"] = logcounts
    for key in ("X_umap", "X_pca"):
        if key in reduced.obsm:
            adata.obsm[key] = np.asarray(reduced.obsm[key])
    for key in ("bulk_labels_colors", "louvain_colors"):
        if key in reduced.uns:
            adata.uns[key] = reduced.uns[key]
    return adata
