"""What sets the β-TCVAE's Spearman gap: the Spearman gap of saved posteriors three ways.

For each run saved by ``tcvae_seed_study.py --save-codes``: the gap on the posterior means of
all latents (the benchmark's), on the means of the active latents only (mean KL to the prior
above 0.1 nats, the package's collapse threshold) and on one posterior sample per cell::

    python benchmarks/spearman_gap_collapsed_latents.py --preset splatter_linear \
        benchmarks/results/tcvae_seeds/codes/splatter_linear_pkg_restarts_seed*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import michigan as mg

#: Mean KL to the prior (nats) below which a latent counts as collapsed, as in the package.
KL_THRESHOLD = 0.1


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
        kl = (0.5 * (mean**2 + var - np.log(var) - 1.0)).mean(axis=0)
        active = kl > KL_THRESHOLD
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
