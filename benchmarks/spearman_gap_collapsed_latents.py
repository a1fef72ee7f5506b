"""What sets the β-TCVAE's Spearman gap: the Spearman gap of saved posteriors three ways.

For each run saved by ``tcvae_seed_study.py --save-codes``: the gap on the posterior means of
all latents (the benchmark's), on the means of the active latents only (those
:func:`michigan.model.latent_activity_table` does not flag as collapsed) and on one posterior
sample per cell::

    python benchmarks/spearman_gap_collapsed_latents.py --preset splatter_linear \
        benchmarks/results/tcvae_seeds/codes/splatter_linear_pkg_restarts_seed*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import michigan as mg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="splatter_linear")
    parser.add_argument("codes", type=Path, nargs="+", help="npz files with mean and var")
    args = parser.parse_args()
    spec, adata = mg.benchmark.load_preset(args.preset)
    factors = adata.obs[list(spec.factors)]
    rng = np.random.default_rng(0)
    print("| run | active latents | all latents | active latents only | one posterior sample |")
    print("|---|---|---|---|---|")
    for path in sorted(args.codes):
        saved = np.load(path)
        mean, var = saved["mean"], saved["var"]
        active = ~mg.model.latent_activity_table(mean, var)["collapsed"].to_numpy()
        sample = mean + np.sqrt(var) * rng.standard_normal(mean.shape)
        gaps = [
            mg.metrics.spearman_gap(mean, factors),
            mg.metrics.spearman_gap(mean[:, active], factors),
            mg.metrics.spearman_gap(sample, factors),
        ]
        scores = " | ".join(f"{gap:.3f}" for gap in gaps)
        print(f"| {path.stem} | {int(active.sum())} | {scores} |")


if __name__ == "__main__":
    main()
