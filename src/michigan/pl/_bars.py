"""Per-latent bars of mutual information or correlation with each factor."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from .._docs import insert_docs
from ._utils import finish, new_axes


@insert_docs
def latent_bars(
    scores: pd.DataFrame,
    *,
    ylabel: str = "normalised MI",
    absolute: bool = False,
    collapsed: Sequence[int | str] | None = None,
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
    collapsed
        Latents collapsed to the prior, by position or by label (for a β-TCVAE:
        ``adata.uns["tcvae_latent_activity"]["collapsed"]``): their bars are hatched and
        faded and their labels marked ×. Their posterior means barely move, yet they can
        still rank-correlate with a factor as strongly as an active latent does.
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
    >>> rho = mg.metrics.spearman_correlation(
    ...     adata, ["batch", "path"], latent_key="X_tcvae"
    ... )  # doctest: +SKIP
    >>> dead = adata.uns["tcvae_latent_activity"]["collapsed"]  # doctest: +SKIP
    >>> mg.pl.latent_bars(rho, absolute=True, collapsed=dead)  # doctest: +SKIP
    """
    if not isinstance(scores, pd.DataFrame) or scores.empty:
        raise ValueError(
            "scores must be a non-empty DataFrame of latents (rows) × factors (columns)"
        )
    values = scores.to_numpy(dtype=np.float64)
    if absolute:
        values = np.abs(values)
    n_latents, n_factors = values.shape
    is_collapsed = _collapsed_mask(scores.index, collapsed)
    own_figure = ax is None
    fig, ax = new_axes(ax, figsize=(max(4.0, 0.5 * n_latents * max(1, n_factors) ** 0.5), 3.2))
    width = 0.8 / n_factors
    positions = np.arange(n_latents)
    cmap = colormaps[palette]
    colours = [cmap(i % cmap.N) for i in range(n_factors)]
    for k, factor in enumerate(scores.columns):
        bars = ax.bar(
            positions + (k - (n_factors - 1) / 2) * width,
            values[:, k],
            width=width,
            label=str(factor),
            color=colours[k],
        )
        for bar in np.asarray(bars.patches, dtype=object)[is_collapsed]:
            bar.set_alpha(0.35)
            bar.set_hatch("//")
    ax.set_xticks(positions)
    labels = np.array([str(name) for name in scores.index], dtype=object)
    labels[is_collapsed] += " ×"
    ax.set_xticklabels(list(labels), rotation=90 if n_latents > 12 else 0)
    for label, dead in zip(ax.get_xticklabels(), is_collapsed, strict=True):
        if dead:
            label.set_color("dimgrey")
    ax.set_ylabel(ylabel)
    ax.axhline(0.0, color="black", linewidth=0.6)
    handles = [Patch(color=colours[k], label=str(f)) for k, f in enumerate(scores.columns)]
    ax.legend(handles=handles, frameon=False, fontsize="small", title=scores.columns.name)
    if title is not None:
        ax.set_title(title)
    return finish(fig, ax, show=show, save=save, name="latent_bars", own_figure=own_figure)


def _collapsed_mask(latents: pd.Index, collapsed: Sequence[int | str] | None) -> np.ndarray:
    """Which rows of the scores are collapsed latents, from positions or labels."""
    mask = np.zeros(len(latents), dtype=bool)
    for latent in [] if collapsed is None else collapsed:
        if isinstance(latent, str):
            if latent not in latents:
                raise ValueError(
                    f"collapsed latent {latent!r} is not a row of scores ({list(latents)}); "
                    "pass row labels or positions"
                )
            mask[latents.get_loc(latent)] = True
        elif isinstance(latent, (int, np.integer)) and 0 <= latent < len(latents):
            mask[latent] = True
        else:
            raise ValueError(
                f"collapsed latent {latent!r} is not a position in 0..{len(latents) - 1} or a "
                "row label of scores"
            )
    return mask
