"""Disentanglement of one β-TCVAE run measured every few epochs.

Does a seed that merges two factors at 100 epochs separate them later? Trains one model per
seed on a benchmark preset and scores the posterior every ``--every`` epochs (MIG, the gap
of each factor, the Spearman gap on posterior means), one JSON line per checkpoint::

    OMP_NUM_THREADS=1 python benchmarks/tcvae_epoch_trajectory.py --preset splatter_linear \
        --seed 1 --epochs 300 --every 25 --out trajectory.jsonl
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
from lightning.pytorch.callbacks import Callback

import michigan as mg
from michigan.metrics._utils import largest_gaps


class DisentanglementTrace(Callback):
    """Scores the model's posterior on every cell after every ``every`` epochs."""

    def __init__(self, model: mg.TCVAE, factors, every: int, row: dict, out: Path):
        self.model, self.factors, self.every, self.row, self.out = model, factors, every, row, out
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every:
            return
        was_training, was_trained = self.model.module.training, self.model.is_trained_
        self.model.is_trained_ = True  # scvi-tools refuses to encode before training ends
        # scoring must not change the training that follows: encoding draws z from torch
        torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
        self.model.module.eval()  # scvi-tools encodes in whatever mode the module is in
        mean, var = self.model.get_latent_representation(return_dist=True)
        torch.set_rng_state(torch_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        self.model.module.train(was_training)
        self.model.is_trained_ = was_trained
        info = mg.metrics.mutual_info(mean, self.factors, posterior_var=var, seed=0)
        gaps = largest_gaps(info)
        rho = mg.metrics.spearman_correlation(mean, self.factors)
        row = {**self.row, "epoch": epoch, "seconds": time.perf_counter() - self.start}
        row["mig"] = float(gaps.mean())
        row.update({f"gap_{k}": float(v) for k, v in gaps.items()})
        row["spearman_gap"] = float(largest_gaps(rho.abs()).mean())
        metrics = trainer.callback_metrics
        for key in ("reconstruction_loss_train", "total_correlation_train"):
            if key in metrics:
                row[key] = float(metrics[key])
        print(json.dumps(row), flush=True)
        with self.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="splatter_linear")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--name", default="trajectory")
    parser.add_argument("--model", default='{"decode_library": true}', help="JSON: TCVAE args")
    parser.add_argument("--train", default="{}", help="JSON: extra TCVAE.train arguments")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    spec, adata = mg.benchmark.load_preset(args.preset)
    factors = adata.obs[list(spec.factors)]
    scvi.settings.seed = args.seed
    mg.TCVAE.setup_anndata(adata, layer="counts")
    model = mg.TCVAE(adata, n_latent=10, beta=spec.beta, **json.loads(args.model))
    row = {"preset": args.preset, "variant": args.name, "seed": args.seed}
    trace = DisentanglementTrace(model, factors, args.every, row, args.out)
    model.train(
        max_epochs=args.epochs,
        train_size=1.0,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[trace],
        **json.loads(args.train),
    )


if __name__ == "__main__":
    main()
