"""Latent traversals: generated cells on the real cells' UMAP (the paper's Fig. 5)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes

from .._docs import insert_docs
from ._embedding import ReferenceUMAP, reference_umap
from ._utils import finish, panel_grid

#: ``.obs`` column of a traversal AnnData with the traversed latent's value.
TRAVERSAL_VALUE_KEY = "traversal_value"
#: ``.obs`` column with the index of the traversed latent.
TRAVERSAL_DIM_KEY = "traversal_dim"

Traversals = AnnData | Sequence[AnnData] | Mapping[str, AnnData]


def _panels(traversal: Traversals, dim_key: str) -> dict[str, AnnData]:
    """One AnnData per panel, titled by its latent."""
    if isinstance(traversal, AnnData):
        if dim_key in traversal.obs and traversal.obs[dim_key].nunique() > 1:
            dims = pd.unique(traversal.obs[dim_key])
            return {f"Z{d}": traversal[(traversal.obs[dim_key] == d).to_numpy()] for d in dims}
        traversal = [traversal]
    if isinstance(traversal, Mapping):
        panels = {str(k): v for k, v in traversal.items()}
    else:
        panels = {}
        for i, part in enumerate(traversal):
            dim = part.obs[dim_key].iloc[0] if dim_key in part.obs and part.n_obs else i
            panels[f"Z{dim}"] = part
    if not panels or not all(isinstance(p, AnnData) for p in panels.values()):
        raise ValueError(
            "traversal must be an AnnData (e.g. from MichiGAN.traverse), a list of them or a "
            "dict title → AnnData"
        )
    return panels


@insert_docs
def traversal(
    adata: AnnData,
    traversal: Traversals,
    *,
    embedding: ReferenceUMAP | None = None,
    layer: str | None = None,
    value_key: str = TRAVERSAL_VALUE_KEY,
    dim_key: str = TRAVERSAL_DIM_KEY,
    ncols: int = 5,
    cmap: str = "viridis",
    size: float = 12.0,
    background_size: float = 4.0,
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
    **umap_kwargs,
) -> Axes | list[Axes] | None:
    """Generated cells of latent traversals placed on the real cells' UMAP.

    The real cells are drawn in grey, and the generated cells on top, projected with the
    reference's PCA and umap-learn's ``transform``, coloured by the traversed latent's value.
    Several traversals (a list, a dict, or one AnnData whose ``dim_key`` column holds several
    latents) give one panel per latent, as in the paper's Fig. 5. A meaningful latent moves
    the generated cells along one biological axis.

    Parameters
    ----------
    adata
        Real cells, in the generated cells' expression space (log-normalised).
    traversal
        Generated cells with the traversed value in ``.obs[value_key]`` (from
        ``MichiGAN.traverse``), several of them as a list or a dict title → AnnData.
    embedding
        A fitted :class:`ReferenceUMAP` of ``adata`` (see :func:`reference_umap`); fitted
        here when ``None`` (about a minute the first time in a process).
    layer
        Layer of ``adata`` with the expression (``None``: ``.X``); generated cells are read
        from ``.X``.
    value_key
        ``.obs`` column with the traversed value.
    dim_key
        ``.obs`` column with the traversed latent, to split and title panels.
    ncols
        Panels per row.
    cmap
        Colour map of the traversed value.
    size, background_size
        Marker sizes of generated and real cells.
    ax
        One axes per panel (a single axes for a single traversal); a new figure otherwise.
    %(plot_show_save)s
    **umap_kwargs
        Passed to :func:`reference_umap` when ``embedding`` is ``None``.

    Returns
    -------
    The axes (a list for several panels), unless shown.

    Examples
    --------
    >>> import michigan as mg
    >>> reference = mg.pl.reference_umap(adata, layer="log1p")  # doctest: +SKIP
    >>> travs = [model.traverse(cell=0, dim=d) for d in range(10)]  # doctest: +SKIP
    >>> mg.pl.traversal(adata, travs, embedding=reference, layer="log1p")  # doctest: +SKIP
    """
    panels = _panels(traversal, dim_key)
    for title, part in panels.items():
        if value_key not in part.obs:
            raise ValueError(
                f"traversal {title!r} has no .obs[{value_key!r}] (columns: "
                f"{list(part.obs.columns)}); pass value_key= naming the traversed value"
            )
    if embedding is None:
        embedding = reference_umap(adata, layer=layer, **umap_kwargs)
    background = embedding.coordinates_of(adata, layer=layer)
    own_figure = ax is None
    if ax is None:
        fig, axes = panel_grid(len(panels), ncols)
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != len(panels):
            raise ValueError(f"pass {len(panels)} axes (one per traversal), got {len(axes)}")
        fig = axes[0].figure
    for panel_ax, (title, part) in zip(axes, panels.items(), strict=True):
        values = part.obs[value_key].to_numpy(dtype=np.float64)
        coordinates = embedding.transform(part)
        panel_ax.scatter(*background.T, s=background_size, c="lightgrey", linewidths=0)
        points = panel_ax.scatter(
            *coordinates.T, s=size, c=values, cmap=cmap, linewidths=0, rasterized=True
        )
        fig.colorbar(
            points, ax=panel_ax, shrink=0.7, label=value_key if len(panels) == 1 else None
        )
        panel_ax.set_title(title)
        panel_ax.set_xticks([])
        panel_ax.set_yticks([])
        panel_ax.set_xlabel("UMAP1")
        panel_ax.set_ylabel("UMAP2")
    result = axes[0] if len(axes) == 1 else axes
    return finish(fig, result, show=show, save=save, name="traversal", own_figure=own_figure)
