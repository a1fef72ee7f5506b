"""Tables of a benchmark run: mean ± SD over seeds, as a DataFrame and as markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._scoring import DISENTANGLEMENT_METRICS, GENERATION_METRICS

#: What each metric means and which way is better, for the tables' legends.
METRIC_NOTES = {
    "mig": "mutual information gap on the posterior (higher: more disentangled)",
    "spearman_gap": "gap of |Spearman ρ| between codes and factors (higher: more disentangled)",
    "factorvae_score": "FactorVAE majority-vote accuracy (higher: more disentangled)",
    "active_latents": (
        "latents not collapsed to the prior (KL ≥ 0.1 nats; per seed below). On the Splatter "
        "presets the seeds with one more than the others were those that merged path and step"
    ),
    "knn_spearman_gap": (
        "Spearman gap between the codes of generated cells and their kNN-predicted (k=3) "
        "factors (higher: the codes steer the cells)"
    ),
    "frechet_distance": "Fréchet distance on 50 pooled PCs (lower: closer to real)",
    "rf_error": "random-forest real-vs-generated error (0.5: indistinguishable)",
    "gene_mean_r": "Pearson r of per-gene means, generated vs real (higher is better)",
    "gene_sd_r": "Pearson r of per-gene SDs (higher is better)",
    "gene_mean_rmse": "RMSE of per-gene means (lower is better)",
    "zero_fraction_mae": "mean absolute error of per-gene zero fractions (lower is better)",
    "inception_score": "inception score under a random-forest cell-type classifier",
    "seconds": "wall time of training and generation (s)",
}


#: Table 1 of Yu & Welch (2021): disentanglement on its two Splatter set-ups (10,000 cells ×
#: 2,000 genes, Gaussian likelihood on log-normalised data, 1000 epochs, mean of 5 runs), by
#: preset, method and metric. The paper's "PCA" is this benchmark's PPCA.
PAPER_TABLE1 = {
    "splatter_linear": {
        ("beta-TCVAE", "mig"): 0.72,
        ("PPCA", "mig"): 0.54,
        ("beta-TCVAE", "spearman_gap"): 0.18,
        ("beta-TCVAE", "factorvae_score"): 0.48,
    },
    "splatter_nonlinear": {
        ("beta-TCVAE", "mig"): 0.66,
        ("PPCA", "mig"): 0.55,
        ("beta-TCVAE", "spearman_gap"): 0.16,
        ("beta-TCVAE", "factorvae_score"): 0.51,
    },
}


def against_paper(results: pd.DataFrame, preset: str) -> pd.DataFrame:
    """A run's mean ± SD beside the paper's Table 1 figure, per method and metric.

    Parameters
    ----------
    results
        The tidy table of :func:`run`.
    preset
        The preset's name; only the Splatter presets have figures in the paper's Table 1.

    Returns
    -------
    A DataFrame with ``method``, ``metric``, ``here`` (mean ± SD), ``per seed`` and
    ``paper``; empty when the paper has no figure for the preset or the run has none of
    its methods.

    Examples
    --------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame(
    ...     {"method": "PPCA", "seed": [0, 1], "metric": "mig", "value": [0.5, 0.6]}
    ... )
    >>> against_paper(tidy, "splatter_linear")[["here", "paper"]].values.tolist()
    [['0.550 ± 0.071', 0.54]]
    """
    rows = []
    summary = summarize(results).set_index(["method", "metric"]) if len(results) else None
    for (method, metric), paper in PAPER_TABLE1.get(preset, {}).items():
        if summary is None or (method, metric) not in summary.index:
            continue
        per_seed = " ".join(f"{v:.2f}" for v in _seed_values(results, method, metric))
        here = summary.loc[(method, metric), "mean ± SD"]
        rows.append((method, metric, here, per_seed, paper))
    return pd.DataFrame(rows, columns=["method", "metric", "here", "per seed", "paper"])


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds of every method and metric.

    Parameters
    ----------
    results
        The tidy table of :func:`run` (columns ``method``, ``seed``, ``metric``, ``value``).

    Returns
    -------
    A DataFrame with one row per method and metric: ``mean``, ``sd`` (NaN with one seed),
    ``n_seeds`` and ``mean ± SD`` (text).

    Examples
    --------
    >>> import pandas as pd
    >>> from michigan.benchmark import summarize
    >>> tidy = pd.DataFrame(
    ...     {"method": "VAE", "seed": [0, 1], "metric": "mig", "value": [0.1, 0.3]}
    ... )
    >>> summarize(tidy)["mean ± SD"].tolist()
    ['0.200 ± 0.141']
    """
    required = {"method", "seed", "metric", "value"}
    if not required <= set(results.columns):
        raise ValueError(f"results need the columns {sorted(required)}, got {list(results)}")
    methods = list(dict.fromkeys(results["method"]))
    grouped = results.groupby(["method", "metric"], sort=False)["value"]
    summary = grouped.agg(mean="mean", sd="std", n_seeds="count").reset_index()
    summary["mean ± SD"] = [
        _format(mean, sd) for mean, sd in zip(summary["mean"], summary["sd"], strict=True)
    ]
    summary["method"] = pd.Categorical(summary["method"], categories=methods, ordered=True)
    return summary.sort_values(["method"], kind="stable").reset_index(drop=True)


def _format(mean: float, sd: float) -> str:
    digits = 1 if abs(mean) >= 10 else 3
    sd_text = "–" if not np.isfinite(sd) else f"{sd:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd_text}"


def to_markdown(
    results: pd.DataFrame, *, title: str | None = None, preset: str | None = None
) -> str:
    """Markdown tables (disentanglement, generation, time) of mean ± SD over seeds.

    Parameters
    ----------
    results
        The tidy table of :func:`run`.
    title
        A heading above the tables.
    preset
        The preset's name: adds this run's figures beside the paper's Table 1, where the
        paper has them (:func:`against_paper`).

    Returns
    -------
    The markdown text: methods as rows, metrics as columns, each cell ``mean ± SD``.

    Examples
    --------
    >>> print(to_markdown(results, title="splatter_nonlinear"))  # doctest: +SKIP
    """
    summary = summarize(results)
    wide = summary.pivot(index="method", columns="metric", values="mean ± SD")
    seeds = sorted(results["seed"].unique().tolist())
    lines = [f"## {title}", ""] if title else []
    lines += [f"Mean ± SD over {len(seeds)} seed(s) {seeds} (– : a single seed).", ""]
    groups = {
        "Disentanglement of the codes of real cells": DISENTANGLEMENT_METRICS,
        "Generated cells": GENERATION_METRICS,
        "Time": ("seconds",),
    }
    for heading, names in groups.items():
        columns = [name for name in names if name in wide.columns]
        if not columns:
            continue
        table = wide[columns].dropna(how="all")
        lines += [f"### {heading}", "", _markdown_table(table), ""]
        lines += [f"- `{name}`: {METRIC_NOTES[name]}" for name in columns] + [""]
        if "active_latents" in columns:
            lines += [_per_seed(results, "active_latents"), ""]
    paper = against_paper(results, preset) if preset is not None else pd.DataFrame()
    if not paper.empty:
        lines += ["### Against the paper's Table 1 (10,000 × 2,000, 1000 epochs, 5 runs)", ""]
        lines += [_markdown_table(paper.set_index("method")), ""]
    return "\n".join(lines)


def _seed_values(results: pd.DataFrame, method: str, metric: str) -> pd.Series:
    """One method's values of ``metric``, in the order of the seeds."""
    chosen = results[(results["method"] == method) & (results["metric"] == metric)]
    return chosen.sort_values("seed")["value"]


def _per_seed(results: pd.DataFrame, metric: str) -> str:
    """One line: each method's values of ``metric``, seed by seed."""
    chosen = results[results["metric"] == metric]
    listed = "; ".join(
        f"{method} " + " ".join(f"{v:g}" for v in _seed_values(results, method, metric))
        for method in dict.fromkeys(chosen["method"])
    )
    return (
        f"`{metric}` per seed ({', '.join(map(str, sorted(chosen['seed'].unique())))}): {listed}"
    )


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| method | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---|" * len(table.columns)
    rows = [
        f"| {method} | " + " | ".join("" if pd.isna(value) else str(value) for value in row) + " |"
        for method, row in zip(table.index, table.to_numpy(), strict=True)
    ]
    return "\n".join([header, rule, *rows])
