"""Bars of per-latent KL to the prior, with the collapsed latents marked."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes

from .._docs import insert_docs
from ..model import LATENT_ACTIVITY_KEY, activity_from_uns
from ._utils import finish, new_axes

ACTIVE_COLOUR = "tab:blue"
COLLAPSED_COLOUR = "lightgrey"


@insert_docs
def latent_activity(
    data,
    *,
    metric: str = "kl",
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
) -> Axes | None:
    """One bar per latent: its KL to the prior (or activity); collapsed latents in grey.

    Parameters
    ----------
    data
        A trained :class:`~michigan.TCVAE`, the table of its
        :meth:`~michigan.TCVAE.get_latent_activity`, or the AnnData it was trained on
        (read from ``adata.uns["tcvae_latent_activity"]``).
    metric
        ``"kl"`` (mean KL of the posterior to the prior, nats, with the threshold drawn) or
        ``"activity"`` (variance of the posterior means over cells).
    %(plot_title_ax_show_save_returns)s

    Examples
    --------
    >>> import michigan as mg
    >>> model.train()  # doctest: +SKIP
    >>> mg.pl.latent_activity(model, save="latent_activity.png")  # doctest: +SKIP
    """
    table = _activity_table(data)
    if metric not in ("kl", "activity"):
        raise ValueError(f"metric must be 'kl' or 'activity', got {metric!r}")
    values = table[metric].to_numpy(dtype=np.float64)
    collapsed = table["collapsed"].to_numpy(dtype=bool)
    own_figure = ax is None
    fig, ax = new_axes(ax, figsize=(max(4.0, 0.45 * len(table)), 3.2))
    positions = np.arange(len(table))
    colours = np.where(collapsed, COLLAPSED_COLOUR, ACTIVE_COLOUR)
    ax.bar(positions, values, color=colours, edgecolor="black", linewidth=0.4)
    for position, value in zip(positions[collapsed], values[collapsed], strict=True):
        ax.annotate("×", (position, value), ha="center", va="bottom", color="dimgrey")
    ax.set_xticks(positions)
    ax.set_xticklabels([name.removeprefix("latent_") for name in table.index])
    ax.set_xlabel("latent")
    if metric == "kl":
        ax.set_ylabel("KL to the prior (nats)")
        if "kl_threshold" in table.attrs:
            ax.axhline(table.attrs["kl_threshold"], color="dimgrey", linestyle="--", linewidth=0.8)
    else:
        ax.set_ylabel("variance of posterior means")
    if (values > 0).all() and values.max() / max(values.min(), 1e-12) > 100:
        ax.set_yscale("log")
    ax.set_title(title if title is not None else f"{collapsed.sum()} of {len(table)} collapsed")
    return finish(fig, ax, show=show, save=save, name="latent_activity", own_figure=own_figure)


def _activity_table(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        table = data
    elif isinstance(data, AnnData):
        table = activity_from_uns(data)
    elif hasattr(data, "get_latent_activity"):
        table = data.get_latent_activity()
    else:
        raise TypeError(
            "data must be a trained TCVAE, the DataFrame of model.get_latent_activity(), or an "
            f"AnnData with adata.uns[{LATENT_ACTIVITY_KEY!r}], got {type(data).__name__}"
        )
    missing = {"kl", "activity", "collapsed"} - set(table.columns)
    if missing or table.empty:
        raise ValueError(
            "the latent activity table needs rows and the columns 'kl', 'activity' and "
            f"'collapsed' (missing: {sorted(missing)}); use model.get_latent_activity()"
        )
    return table
