"""Can an unsupervised score pick the disentangled run among β-TCVAE restarts?

Reads the codes that ``tcvae_seed_study.py --save-codes`` saved for several seeds of one
preset and setting, scores every pair of runs by how one-to-one their active latents match
(an unsupervised disentanglement ranking in the spirit of UDR, Duan et al. 2020: runs that
found the true factors agree with each other latent by latent, an entangled run does not),
and asks which run each subset of ``k`` restarts would keep, against the MIG each run has.

    python benchmarks/tcvae_restart_selection.py --preset splatter_linear \
        --name pkg_codes --codes benchmarks/results/tcvae_seeds/codes \
        --rows benchmarks/results/tcvae_seeds/cpu_size.jsonl --k 3

A latent is active when it is not collapsed by ``latent_activity_table``'s test (mean KL to
the prior below ``--active-kl`` nats).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from michigan.model import latent_activity_table


def pair_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """How one-to-one the latents of two runs match, in [0, 1].

    ``R`` is the absolute Spearman correlation of every active latent of one run with every
    active latent of the other. Each latent scores its best match's ``R`` times the share of
    its row's ``R`` that match holds (1 for a latent that matches one latent of the other run
    perfectly and no other); the score is the mean over the latents of both runs, so a latent
    with no counterpart (a different number of active latents) scores low.
    """
    if a.shape[1] == 0 or b.shape[1] == 0:
        return 0.0
    rho = spearmanr(a, b).statistic
    rho = np.atleast_2d(rho)[: a.shape[1], a.shape[1] :]
    r = np.abs(np.nan_to_num(rho))
    rows = r.max(1) * r.max(1) / np.maximum(r.sum(1), 1e-12)
    cols = r.max(0) * r.max(0) / np.maximum(r.sum(0), 1e-12)
    return float((rows.sum() + cols.sum()) / (len(rows) + len(cols)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", required=True)
    parser.add_argument("--name", required=True, help="the seed study's --name")
    parser.add_argument("--codes", type=Path, required=True)
    parser.add_argument("--rows", type=Path, required=True, help="the seed study's --out")
    parser.add_argument("--k", type=int, default=3, help="restarts per selection")
    parser.add_argument("--active-kl", type=float, default=0.1)
    parser.add_argument("--n-cells", type=int, default=2000, help="cells the scores use")
    args = parser.parse_args()

    mig = {}
    for line in args.rows.read_text().splitlines():
        row = json.loads(line)
        if row["preset"] == args.preset and row["variant"] == args.name:
            mig[row["seed"]] = row["mig"]
    codes = {}
    for seed in sorted(mig):
        path = args.codes / f"{args.preset}_{args.name}_seed{seed}.npz"
        if path.exists():
            saved = np.load(path)
            activity = latent_activity_table(saved["mean"], saved["var"], args.active_kl)
            keep = np.flatnonzero(~activity["collapsed"].to_numpy())
            cells = np.random.default_rng(0).permutation(saved["mean"].shape[0])[: args.n_cells]
            codes[seed] = saved["mean"][np.ix_(np.sort(cells), keep)]
    seeds = sorted(codes)
    agreement = np.eye(len(seeds))
    for (i, s), (j, t) in itertools.combinations(enumerate(seeds), 2):
        agreement[i, j] = agreement[j, i] = pair_agreement(codes[s], codes[t])
    print(f"{args.preset} {args.name}: seeds {seeds}")
    for i, s in enumerate(seeds):
        others = np.delete(agreement[i], i)
        print(
            f"  seed {s}: MIG {mig[s]:.3f}, {codes[s].shape[1]} active latents, "
            f"agreement with the others {np.median(others):.3f} "
            f"({' '.join(f'{v:.2f}' for v in others)})"
        )
    picked = []
    for subset in itertools.combinations(range(len(seeds)), args.k):
        sub = agreement[np.ix_(subset, subset)]
        scores = [np.median(np.delete(sub[n], n)) for n in range(len(subset))]
        picked.append(mig[seeds[subset[int(np.argmax(scores))]]])
    migs = np.array([mig[s] for s in seeds])
    print(
        f"  best of {args.k} by agreement, over {len(picked)} subsets: MIG mean "
        f"{np.mean(picked):.3f}, lowest {np.min(picked):.3f}; one run at random: mean "
        f"{migs.mean():.3f}, lowest {migs.min():.3f}"
    )


if __name__ == "__main__":
    main()
