"""Per-latent bars of mutual information or correlation with each factor."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes

from .._docs import insert_docs
from ._utils import finish, new_axes


@insert_docs
def latent_bars(
    scores: pd.DataFrame,
    *,
    ylabel: str = "normalised MI",
    absolute: bool = False,
    palette: str = "tab10",
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
) -> Axes | None:
    """Grouped bars: one group per latent, one bar per factor (the paper's Fig. 2 and 3).

    Parameters
    ----------
    scores
        Latents × factors, e.g. from :func:`michigan.metrics.mutual_info` or
        :func:`michigan.metrics.spearman_correlation`.
    ylabel
        Label of the y axis.
    absolute
        Plot absolute values (for signed correlations).
    palette
        Matplotlib colour map of the factors.
    %(plot_title_ax_show_save_returns)s

    Examples
    --------
    >>> import michigan as mg
    >>> scores = mg.metrics.mutual_info(
    ...     adata, ["batch", "path"], latent_key="X_tcvae"
    ... )  # doctest: +SKIP
    >>> mg.pl.latent_bars(scores, save="mi.png")  # doctest: +SKIP
    """
    if not isinstance(scores, pd.DataFrame) or scores.empty:
        raise ValueError(
            "scores must be a non-empty DataFrame of latents (rows) × factors (columns)"
        )
    values = scores.to_numpy(dtype=np.float64)
    if absolute:
        values = np.abs(values)
    n_latents, n_factors = values.shape
    own_figure = ax is None
    fig, ax = new_axes(ax, figsize=(max(4.0, 0.5 * n_latents * max(1, n_factors) ** 0.5), 3.2))
    width = 0.8 / n_factors
    positions = np.arange(n_latents)
    cmap = colormaps[palette]
    colours = [cmap(i % cmap.N) for i in range(n_factors)]
    for k, factor in enumerate(scores.columns):
        ax.bar(
            positions + (k - (n_factors - 1) / 2) * width,
            values[:, k],
            width=width,
            label=str(factor),
            color=colours[k],
        )
    ax.set_xticks(positions)
    ax.set_xticklabels([str(i) for i in scores.index], rotation=90 if n_latents > 12 else 0)
    ax.set_ylabel(ylabel)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.legend(frameon=False, fontsize="small", title=scores.columns.name)
    if title is not None:
        ax.set_title(title)
    return finish(fig, ax, show=show, save=save, name="latent_bars", own_figure=own_figure)
