"""β-TCVAE disentanglement across training seeds, one setting at a time.

Trains the benchmark's β-TCVAE (same data, same code path as ``michigan benchmark``) on
several seeds with one change to the settings, scores the posterior MIG, the Spearman gap and
the per-factor gaps, and PPCA's MIG on the same cells; appends one row per seed to a CSV.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/tcvae_seed_study.py \
        --preset splatter_nonlinear --seeds 0 1 2 3 4 --name baseline \
        --model '{}' --train '{}' --out benchmarks/results/tcvae_seeds/study.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import scvi
import torch

import michigan as mg
from michigan.benchmark._methods import BenchmarkData, BenchmarkSettings, log_normalize, ppca
from michigan.metrics._utils import largest_gaps
from michigan.model import default_max_epochs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="splatter_nonlinear")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--name", required=True)
    parser.add_argument("--beta", type=float, default=None)
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: the TCVAE's (200 at 5,000 cells)"
    )
    parser.add_argument("--model", default="{}", help="JSON: extra TCVAE arguments")
    parser.add_argument("--train", default="{}", help="JSON: extra TCVAE.train arguments")
    parser.add_argument("--n-cells", type=int, default=None, help="default: the CPU size")
    parser.add_argument("--n-genes", type=int, default=None)
    parser.add_argument("--ppca", action="store_true", help="also score PPCA per seed")
    parser.add_argument(
        "--layer",
        choices=("counts", "log_normalized"),
        default="counts",
        help="what the β-TCVAE models; log_normalized with --model "
        '\'{"gene_likelihood": "normal"}\' is the paper\'s set-up (no library input)',
    )
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--save-codes",
        type=Path,
        default=None,
        help="folder: each seed's posterior means and variances as PRESET_NAME_seedS.npz",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec, adata = mg.benchmark.load_preset(args.preset, n_cells=args.n_cells, n_genes=args.n_genes)
    factors = adata.obs[list(spec.factors)]
    beta = spec.beta if args.beta is None else args.beta
    if args.layer == "log_normalized":
        adata.layers["log_normalized"] = log_normalize(adata.layers["counts"])
    for seed in args.seeds:
        row = {"preset": args.preset, "variant": args.name, "seed": seed, "beta": beta}
        row.update({"layer": args.layer, "n_cells": adata.n_obs, "n_genes": adata.n_vars})
        row["epochs"] = args.epochs or default_max_epochs(adata.n_obs)
        if args.ppca:
            data = BenchmarkData(
                adata, log_normalize(adata.layers["counts"]), np.arange(10), spec.factors
            )
            out = ppca(data, BenchmarkSettings(seed=seed))
            info = mg.metrics.mutual_info(out.codes, factors, posterior_var=out.posterior_var)
            row["ppca_mig"] = float(largest_gaps(info).mean())
        start = time.perf_counter()
        scvi.settings.seed = seed
        mg.TCVAE.setup_anndata(adata, layer=args.layer)
        model = mg.TCVAE(adata, n_latent=10, beta=beta, **json.loads(args.model))
        model.train(
            max_epochs=row["epochs"],
            train_size=1.0,
            accelerator="cpu",
            enable_progress_bar=False,
            enable_model_summary=False,
            **json.loads(args.train),
        )
        row["seconds"] = time.perf_counter() - start
        mean, var = model.get_latent_representation(return_dist=True)
        if args.save_codes is not None:
            args.save_codes.mkdir(parents=True, exist_ok=True)
            name = f"{args.preset}_{args.name}_seed{seed}.npz"
            np.savez_compressed(args.save_codes / name, mean=mean, var=var)
        info = mg.metrics.mutual_info(mean, factors, posterior_var=var, seed=0)
        gaps = largest_gaps(info)
        rho = mg.metrics.spearman_correlation(mean, factors)
        row["mig"] = float(gaps.mean())
        row["spearman_gap"] = float(largest_gaps(rho.abs()).mean())
        row.update({f"gap_{k}": float(v) for k, v in gaps.items()})
        row["top_latent"] = " ".join(f"{k}:{int(np.argmax(info[k].to_numpy()))}" for k in info)
        kl = 0.5 * (mean**2 + var - np.log(var) - 1.0)
        row["kl_per_latent"] = " ".join(f"{v:.3g}" for v in kl.mean(0))  # nats, per latent
        history = model.history
        for key in ("total_correlation_train", "mutual_info_train", "reconstruction_loss_train"):
            if key in history:
                row[key] = float(history[key].iloc[-1, 0])
        print(json.dumps(row), flush=True)
        with Path(args.out).open("a") as handle:  # one JSON line per seed
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
