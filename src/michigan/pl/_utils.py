"""Figure handling shared by the plots: axes creation, ``save=`` and ``show=`` as in scanpy."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Saved figures' resolution.
SAVE_DPI = 150


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (4.5, 4.0)) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def panel_grid(
    n_panels: int, ncols: int, panel_size: tuple[float, float] = (3.6, 3.2)
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes in rows of ``ncols``; unused cells are hidden."""
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
    )
    flat = list(axes.ravel())
    for extra in flat[n_panels:]:
        extra.set_visible(False)
    return fig, flat[:n_panels]


def finish(
    fig: Figure,
    axes: Axes | Sequence[Axes],
    *,
    show: bool | None,
    save: str | os.PathLike | bool | None,
    name: str,
    own_figure: bool,
) -> Axes | list[Axes] | None:
    """Save and/or show a figure the scanpy way and return its axes.

    ``save`` is a file path (its suffix picks the format) or ``True`` for
    ``{scanpy.settings.figdir}/{name}.png``. ``show=None`` shows the figure only when the plot
    made its own figure and nothing was saved. The axes are returned unless the figure was
    shown (as scanpy does, so that notebooks do not draw it twice).
    """
    if save:
        if save is True:
            import scanpy as sc

            path = Path(sc.settings.figdir) / f"{name}.png"
        else:
            path = Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight")
    if show is None:
        show = own_figure and not save
    if show:
        plt.show()
        return None
    return axes
