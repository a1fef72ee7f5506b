"""The paper's benchmark figures: per-latent bars (Fig. 1c–d), generation (Fig. 2), Fig. 4b."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..pl import latent_bars
from ._report import summarize

#: Methods of the codes-vs-kNN-factors figure (the paper's Fig. 4b).
FIG4B_METHODS = ("beta-TCVAE", "WGAN-GP", "MichiGAN")
#: Latents shown per method in the bar figures (WGAN-GP has 128 noise dimensions).
MAX_LATENTS = 10


def _matrix(per_latent: pd.DataFrame, method: str, kind: str, seed) -> pd.DataFrame | None:
    rows = per_latent[
        (per_latent["method"] == method)
        & (per_latent["kind"] == kind)
        & (per_latent["seed"] == seed)
    ]
    if rows.empty:
        return None
    table = rows.pivot(index="latent", columns="factor", values="value")
    order = sorted(table.index, key=lambda name: (len(name), name))
    table = table.loc[order[:MAX_LATENTS], list(dict.fromkeys(rows["factor"]))]
    table.index = [name.removeprefix("latent_") for name in table.index]
    table.index.name = "latent"
    return table


def latent_bars_figure(
    per_latent: pd.DataFrame, path: str | os.PathLike, *, title: str = ""
) -> Path | None:
    """Per-latent normalised MI and |Spearman ρ| with each factor, one row per encoder.

    Latents collapsed to the prior (kind ``latent_activity``, factor ``collapsed``, as
    :func:`michigan.model.latent_activity_table` flags them) are hatched and marked ×.

    Parameters
    ----------
    per_latent
        Long table with ``method``, ``seed``, ``kind``, ``latent``, ``factor``, ``value``.
    path
        PNG file to write.
    title
        Figure title.

    Returns
    -------
    The path written, or ``None`` when no method has codes.

    Examples
    --------
    >>> latent_bars_figure(per_latent, "fig1.png")  # doctest: +SKIP
    """
    seed = per_latent["seed"].min() if len(per_latent) else None
    methods = [
        m
        for m in dict.fromkeys(per_latent["method"])
        if _matrix(per_latent, m, "mutual_info", seed) is not None
    ]
    if not methods:
        return None
    fig = Figure(figsize=(11, 2.6 * len(methods)), layout="constrained")
    axes = fig.subplots(len(methods), 2, squeeze=False)
    for row, method in zip(axes, methods, strict=True):
        activity = _matrix(per_latent, method, "latent_activity", seed)
        collapsed = [] if activity is None else list(activity.index[activity["collapsed"] > 0])
        for ax, kind, label in (
            (row[0], "mutual_info", "normalised MI"),
            (row[1], "spearman", "|Spearman ρ|"),
        ):
            latent_bars(
                _matrix(per_latent, method, kind, seed),
                ylabel=label,
                absolute=True,
                collapsed=collapsed,
                title=f"{method} — {label}",
                ax=ax,
                show=False,
            )
    fig.suptitle(f"{title} per-latent scores of real cells' codes (seed {seed})")
    return _save(fig, path)


def knn_codes_figure(
    per_latent: pd.DataFrame, path: str | os.PathLike, *, title: str = ""
) -> Path | None:
    """|Spearman ρ| of the codes of generated cells with their kNN-predicted factors (Fig. 4b).

    Parameters
    ----------
    per_latent
        Long table as for :func:`latent_bars_figure`.
    path
        PNG file to write.
    title
        Figure title.

    Returns
    -------
    The path written, or ``None`` when none of β-TCVAE, WGAN-GP and MichiGAN ran.

    Examples
    --------
    >>> knn_codes_figure(per_latent, "fig4b.png")  # doctest: +SKIP
    """
    seed = per_latent["seed"].min() if len(per_latent) else None
    tables = {
        m: _matrix(per_latent, m, "knn_spearman", seed)
        for m in FIG4B_METHODS
        if _matrix(per_latent, m, "knn_spearman", seed) is not None
    }
    if not tables:
        return None
    fig = Figure(figsize=(5.5 * len(tables), 3.2), layout="constrained")
    axes = fig.subplots(1, len(tables), squeeze=False)
    for ax, (method, table) in zip(axes[0], tables.items(), strict=True):
        note = f" (first {MAX_LATENTS} noise dims)" if method == "WGAN-GP" else ""
        latent_bars(
            table, ylabel="|Spearman ρ|", absolute=True, title=method + note, ax=ax, show=False
        )
        ax.set_ylim(0, 1)
    fig.suptitle(f"{title} codes of generated cells vs kNN-predicted factors (seed {seed})")
    return _save(fig, path)


def generation_figure(
    results: pd.DataFrame, path: str | os.PathLike, *, title: str = ""
) -> Path | None:
    """Random-forest error and Fréchet distance per method, mean ± SD over seeds (Fig. 2).

    Parameters
    ----------
    results
        The tidy table of :func:`run`.
    path
        PNG file to write.
    title
        Figure title.

    Returns
    -------
    The path written, or ``None`` when no method generated cells.

    Examples
    --------
    >>> generation_figure(results, "fig2.png")  # doctest: +SKIP
    """
    summary = summarize(results)
    panels = [
        ("rf_error", "random-forest error (0.5 = real)"),
        ("frechet_distance", "Fréchet distance (lower = closer)"),
    ]
    panels = [(m, label) for m, label in panels if (summary["metric"] == m).any()]
    if not panels:
        return None
    fig = Figure(figsize=(5.5 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        rows = summary[summary["metric"] == metric]
        positions = np.arange(len(rows))
        ax.bar(positions, rows["mean"], yerr=rows["sd"].fillna(0.0), color="tab:blue", capsize=3)
        ax.set_xticks(positions)
        ax.set_xticklabels(rows["method"].astype(str), rotation=45, ha="right")
        ax.set_ylabel(label)
        if metric == "rf_error":
            ax.axhline(0.5, color="black", linewidth=0.6, linestyle="--")
    fig.suptitle(f"{title} generated vs real cells")
    return _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write a pyplot-free figure (no backend, nothing left open)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
