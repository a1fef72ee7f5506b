"""A UMAP of real cells that generated cells can be placed on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ..metrics import fit_pca

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _expression(data: AnnData | ArrayLike, layer: str | None, genes: pd.Index | None):
    """Float32 expression of ``data`` over ``genes`` (matched by name for an AnnData).

    Sparse input stays sparse (CSR), so that a large reference is never densified whole.
    """
    if isinstance(data, AnnData):
        if layer is not None and layer not in data.layers:
            raise ValueError(
                f"layer {layer!r} is not in .layers (layers: {list(data.layers.keys())}); "
                "pass layer=None to use .X"
            )
        if genes is not None and not data.var_names.equals(genes):
            missing = genes.difference(data.var_names)
            if len(missing):
                raise ValueError(
                    f"{len(missing)} genes of the reference are missing (e.g. "
                    f"{list(missing[:3])}); give cells over the reference's genes"
                )
            data = data[:, genes]
        matrix = data.X if layer is None else data.layers[layer]
    else:
        matrix = data
    if sparse.issparse(matrix):
        matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    else:
        matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or (genes is not None and matrix.shape[1] != len(genes)):
        raise ValueError(
            f"expected cells × {len(genes) if genes is not None else 'genes'}, got shape "
            f"{matrix.shape}"
        )
    return matrix


class ReferenceUMAP:
    """Real cells' 2-D embedding (PCA, then UMAP) that new cells can be projected on.

    Built by :func:`reference_umap`; reuse one object for several plots so that the UMAP is
    fitted once. New cells go through the same PCA and the reducer's ``transform``
    (umap-learn's :meth:`umap.UMAP.transform`), as the paper placed generated cells.

    Parameters
    ----------
    pca
        Fitted PCA (anything with ``transform``) from expression to the reducer's input, or
        ``None`` when the reducer takes expression.
    reducer
        Fitted reducer with ``transform`` (a :class:`umap.UMAP`, or e.g. a 2-component PCA).
    coordinates
        Embedding of the reference cells, ``(n_cells, 2)``.
    obs_names, var_names
        The reference cells and the genes the PCA reads.
    layer
        Layer of the reference that was embedded (the default for new AnnDatas).
    """

    def __init__(
        self,
        pca: Any,
        reducer: Any,
        coordinates: np.ndarray,
        obs_names: pd.Index,
        var_names: pd.Index,
        layer: str | None = None,
    ):
        self.pca = pca
        self.reducer = reducer
        self.coordinates = np.asarray(coordinates, dtype=np.float64)
        self.obs_names = pd.Index(obs_names)
        self.var_names = pd.Index(var_names)
        self.layer = layer

    def transform(self, data: AnnData | ArrayLike, layer: str | None = None) -> np.ndarray:
        """Project cells (AnnData over the reference's genes, or a matrix) onto the embedding.

        Parameters
        ----------
        data
            Cells in the reference's expression space.
        layer
            Layer of ``data``; for a generated AnnData (expression in ``.X``) leave ``None``.

        Returns
        -------
        Coordinates, ``(n_cells, 2)``.
        """
        matrix = _expression(data, layer, self.var_names)
        features = self.pca.transform(matrix) if self.pca is not None else matrix
        return np.asarray(self.reducer.transform(features), dtype=np.float64)

    def coordinates_of(self, data: AnnData, layer: str | None = None) -> np.ndarray:
        """Coordinates of cells: the fitted ones for reference cells, else :meth:`transform`."""
        positions = self.obs_names.get_indexer(data.obs_names)
        if self.obs_names.is_unique and (positions >= 0).all():
            return self.coordinates[positions]
        return self.transform(data, layer=layer if layer is not None else self.layer)


def reference_umap(
    adata: AnnData,
    *,
    layer: str | None = None,
    n_pcs: int = 50,
    reducer: Any = None,
    seed: int = 0,
    **umap_kwargs,
) -> ReferenceUMAP:
    """Fit a PCA and a UMAP on real cells, for placing generated cells on it.

    The first UMAP of a Python process spends about a minute compiling umap-learn's numba
    code; fit one reference and pass it to every plot.

    Parameters
    ----------
    adata
        Real cells, in the space generated cells are in (log-normalised expression).
    layer
        Layer of ``adata`` to embed (``None``: ``.X``).
    n_pcs
        Principal components fed to the reducer (capped by the data's size); sparse input
        stays sparse (ARPACK).
    reducer
        Unfitted reducer with ``fit_transform`` and ``transform``; default
        ``umap.UMAP(random_state=seed, **umap_kwargs)``.
    seed
        Seed of the PCA and the default UMAP.
    **umap_kwargs
        Passed to :class:`umap.UMAP` (e.g. ``n_neighbors``, ``min_dist``, ``n_epochs``).

    Returns
    -------
    A :class:`ReferenceUMAP`.

    Examples
    --------
    >>> import michigan as mg
    >>> reference = mg.pl.reference_umap(adata, layer="log1p")  # doctest: +SKIP
    >>> mg.pl.traversal(adata, trav, embedding=reference)  # doctest: +SKIP
    """
    matrix = _expression(adata, layer, None)
    if min(matrix.shape) < 3:
        raise ValueError(
            f"{adata.n_obs} cells × {adata.n_vars} genes are too few to embed; "
            "give at least 3 cells and 3 genes"
        )
    pca = fit_pca(matrix, n_pcs, seed)
    if reducer is None:
        import umap

        reducer = umap.UMAP(random_state=seed, **umap_kwargs)
    elif umap_kwargs:
        raise ValueError("umap_kwargs apply to the default UMAP; configure your reducer instead")
    coordinates = reducer.fit_transform(pca.transform(matrix))
    return ReferenceUMAP(pca, reducer, coordinates, adata.obs_names, adata.var_names, layer)
