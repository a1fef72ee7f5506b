"""Backed (on-disk) AnnData: refused with a message that says how to load it."""

from __future__ import annotations

from anndata import AnnData


def refuse_backed(adata: AnnData) -> None:
    """Raise when ``adata`` is backed by an ``.h5ad`` file (``read_h5ad(..., backed="r")``).

    The models read all cells into memory once per training run, so backed mode would save
    no memory; it is refused up front rather than failing deep inside a check.

    Examples
    --------
    >>> refuse_backed(adata)
    """
    if getattr(adata, "isbacked", False):
        raise ValueError(
            f"adata is backed by {adata.filename} (read with backed='r'); michigan models read "
            "the data into memory, so load it first: adata = adata.to_memory() (or "
            "anndata.read_h5ad(path) without backed=...)"
        )
