"""What sets the β-TCVAE's Spearman gap: the Spearman gap of saved posteriors three ways.

For each run saved by ``tcvae_seed_study.py --save-codes``: the gap on the posterior means of
all latents (the benchmark's), on the means of the active latents only (those
:func:`michigan.model.latent_activity_table` does not flag as collapsed) and on one posterior
sample per cell. Then, per factor, the gap on the means of all latents with the two largest
``|ρ|`` behind it, each marked ``*`` where it is a collapsed latent, and the largest ``|ρ|``
any code can reach for a two-level factor, ``sqrt(3 p (1 - p))`` (0.866 for a balanced one).
``--figure`` draws the first run's bars with the collapsed latents marked::

    python benchmarks/spearman_gap_collapsed_latents.py --preset splatter_linear \
        benchmarks/results/tcvae_seeds/codes/splatter_linear_pkg_restarts_seed*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import michigan as mg
from michigan.metrics import largest_gaps


def binary_rho_ceiling(factor: pd.Series) -> float:
    """Largest ``|Spearman ρ|`` of any code with a two-level factor (NaN for more levels)."""
    shares = factor.value_counts(normalize=True).to_numpy()
    return float(np.sqrt(3 * shares[0] * shares[1])) if shares.size == 2 else np.nan


def factor_breakdown(rho: pd.DataFrame, collapsed: np.ndarray) -> list:
    """Per factor: the gap, and the two largest ``|ρ|`` (``*``: a collapsed latent)."""
    rho = rho.abs().to_numpy()
    cells = []
    for k in range(rho.shape[1]):
        first, second = np.argsort(rho[:, k])[::-1][:2]
        marks = ["*" if collapsed[j] else "" for j in (first, second)]
        cells.append(
            f"{rho[first, k] - rho[second, k]:.2f} ({rho[first, k]:.2f}{marks[0]}, "
            f"{rho[second, k]:.2f}{marks[1]})"
        )
    return cells


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="splatter_linear")
    parser.add_argument("codes", type=Path, nargs="+", help="npz files with mean and var")
    parser.add_argument("--figure", type=Path, help="PNG: the first run's |ρ| per latent")
    args = parser.parse_args()
    spec, adata = mg.benchmark.load_preset(args.preset)
    factors = adata.obs[list(spec.factors)]
    rng = np.random.default_rng(0)
    runs = {path.stem: np.load(path) for path in args.codes}
    collapsed = {
        name: mg.model.latent_activity_table(saved["mean"], saved["var"])["collapsed"].to_numpy()
        for name, saved in runs.items()
    }
    rho = {
        name: mg.metrics.spearman_correlation(saved["mean"], factors)
        for name, saved in runs.items()
    }
    print("| run | active latents | all latents | active latents only | one posterior sample |")
    print("|---|---|---|---|---|")
    for name, saved in runs.items():
        mean, var = saved["mean"], saved["var"]
        active = ~collapsed[name]
        sample = mean + np.sqrt(var) * rng.standard_normal(mean.shape)
        gaps = [
            float(largest_gaps(rho[name].abs()).mean()),
            mg.metrics.spearman_gap(mean[:, active], factors),
            mg.metrics.spearman_gap(sample, factors),
        ]
        scores = " | ".join(f"{gap:.3f}" for gap in gaps)
        print(f"| {name} | {int(active.sum())} | {scores} |")

    ceilings = [binary_rho_ceiling(column) for _, column in factors.items()]
    print("\nPer factor, posterior means of all latents: gap (largest |ρ|, runner-up)")
    print("| run | " + " | ".join(factors.columns) + " |")
    print("|---|" + "---|" * factors.shape[1])
    ceiling_cells = [f"{c:.3f}" if np.isfinite(c) else "1" for c in ceilings]
    print("| ceiling | " + " | ".join(ceiling_cells) + " |")
    for name in runs:
        cells = factor_breakdown(rho[name], collapsed[name])
        print(f"| {name} | " + " | ".join(cells) + " |")

    if args.figure is not None:
        name = next(iter(runs))
        first = rho[name].copy()
        first.index = pd.Index([j.removeprefix("latent_") for j in first.index], name="latent")
        mg.pl.latent_bars(
            first,
            absolute=True,
            collapsed=np.flatnonzero(collapsed[name]),
            ylabel="|Spearman ρ| of posterior means",
            title=f"{name}: collapsed latents (×) follow the factors too",
            save=args.figure,
            show=False,
        )


if __name__ == "__main__":
    main()
