"""Predict held-out stimulated cell types of the Kang PBMC data (docs/prediction.md).

For each held-out cell type, the stimulated cells of that type are removed from training
(``michigan.data.hold_out``); a β-TCVAE, a MichiGAN on its codes and a plain VAE are trained on
the rest; the stimulated cells are predicted by latent arithmetic; and the predictions are scored
against the real held-out cells with ``michigan.metrics.evaluate_prediction``. Writes a markdown
table to stdout (and ``--table``) and figures ``prediction_kang_*.png`` to ``--out``.

Run from the repository root (about 35 minutes on 2 shared CPU cores):

    python docs/scripts/kang_prediction.py \
        --data ../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad --out docs/_static
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc
import scvi
import torch
from anndata import AnnData

import michigan as mg

CELL_TYPE, CONDITION = "cell_type", "condition"
STIMULATED, CONTROL = "stimulated", "control"
#: Methods in table order: (label, model, codes, arithmetic).
METHODS = [
    ("MichiGAN, sampled codes", "michigan", "sample", "cell_type"),
    ("MichiGAN, mean codes", "michigan", "mean", "cell_type"),
    ("β-TCVAE decoder, sampled codes", "tcvae", "sample", "cell_type"),
    ("β-TCVAE decoder, mean codes", "tcvae", "mean", "cell_type"),
    ("VAE, scGen arithmetic", "vae", "mean", "perturbation"),
]
SHOWN = [0, 2, 4]  # methods drawn in the UMAP and reg-mean figures
START = time.time()


def log(message: str) -> None:
    print(f"[{time.time() - START:7.1f}s] {message}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad")
    parser.add_argument("--out", default="docs/_static", help="folder of the figures")
    parser.add_argument("--table", default=None, help="also write the markdown table here")
    parser.add_argument("--cell-types", nargs="+", default=["CD4T", "CD14+Mono", "B"])
    parser.add_argument("--n-hvg", type=int, default=2000)
    parser.add_argument("--beta", type=float, default=10.0, help="TC weight of the β-TCVAE")
    parser.add_argument("--epochs-vae", type=int, default=100)
    parser.add_argument("--epochs-gan", type=int, default=50)
    parser.add_argument("--lr-gan", type=float, default=2e-4)
    parser.add_argument("--batch-size-gan", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest on a shared 2-core machine)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load(path: str, n_hvg: int) -> AnnData:
    """Counts of the top HVGs, and their log-normalised values in ``.layers["log1p"]``.

    The log-normalisation is computed on the selected genes' counts, as the GAN and the
    decoders (library 1e4 over the same genes) see them.
    """
    adata = mg.datasets.kang_pbmc(path)
    scout = adata.copy()
    sc.pp.normalize_total(scout, target_sum=1e4)
    sc.pp.log1p(scout)
    sc.pp.highly_variable_genes(scout, n_top_genes=n_hvg)
    adata = adata[:, scout.var["highly_variable"].to_numpy()].copy()
    adata.X = adata.layers["counts"].copy()
    normalised = sc.pp.normalize_total(adata, target_sum=1e4, inplace=False)["X"]
    adata.layers["log1p"] = np.log1p(normalised)
    return adata


def fit_models(train: AnnData, args: argparse.Namespace) -> dict:
    """β-TCVAE, MichiGAN (sampled codes) on it, and a plain VAE, all on ``train`` only."""
    train_kwargs = {"enable_progress_bar": False}
    mg.TCVAE.setup_anndata(train, layer="counts")
    tcvae = mg.TCVAE(train, n_latent=10, beta=args.beta)
    tcvae.train(max_epochs=args.epochs_vae, **train_kwargs)
    log("  β-TCVAE trained")
    vae = mg.TCVAE(train, n_latent=10, alpha=1.0, beta=1.0, gamma=1.0)
    vae.train(max_epochs=args.epochs_vae, **train_kwargs)
    log("  VAE trained")
    mg.MichiGAN.setup_anndata(train, layer="counts")
    gan = mg.MichiGAN(train, representation=tcvae, code_source="sample")
    gan.train(
        max_epochs=args.epochs_gan,
        batch_size=args.batch_size_gan,
        lr_generator=args.lr_gan,
        lr_critic=args.lr_gan,
        **train_kwargs,
    )
    log("  MichiGAN trained")
    return {"tcvae": tcvae, "vae": vae, "michigan": gan}


def encoder_codes(models: dict, name: str, cells: AnnData, codes: str, seed: int) -> np.ndarray:
    """The representation's codes of (held-out) cells, for ΔH."""
    encoder = models["tcvae"] if name == "michigan" else models[name]
    torch.manual_seed(seed)
    # scvi-tools transfers the training set-up to the held-out cells (a copy, here).
    return encoder.get_latent_representation(cells.copy(), give_mean=codes == "mean")


def run_cell_type(adata: AnnData, cell_type: str, args: argparse.Namespace):
    train, held = mg.data.hold_out(adata, CELL_TYPE, CONDITION, [(cell_type, STIMULATED)])
    log(f"{cell_type}: {train.n_obs} training cells, {held.n_obs} held out")
    models = fit_models(train, args)
    is_control = (train.obs[CELL_TYPE] == cell_type) & (train.obs[CONDITION] == CONTROL)
    control = train[is_control.to_numpy()]
    rows, predictions = [], {}
    for label, name, codes, arithmetic in METHODS:
        kwargs = {"control_perturbation": CONTROL} if arithmetic == "perturbation" else {}
        predicted = models[name].predict(
            cell_type_key=CELL_TYPE,
            perturbation_key=CONDITION,
            target=(cell_type, STIMULATED),
            code_source=codes,
            n_cells=held.n_obs,
            seed=args.seed,
            arithmetic=arithmetic,
            **kwargs,
        )
        scores = mg.metrics.evaluate_prediction(
            predicted,
            held,
            control,
            layer="log1p",
            n_top_genes=100,
            real_latents=encoder_codes(models, name, held, codes, args.seed),
            seed=args.seed,
        )
        rows.append(
            {
                "held out": cell_type,
                "method": label,
                "shifted cells": predicted.uns["prediction"]["control"],
                **scores,
            }
        )
        predictions[label] = predicted
        log(f"  {label}: R² {scores['r2_mean']:.3f}, RF error {scores['rf_error']:.3f}")
    rows.append(
        {
            "held out": cell_type,
            "method": "control cells (no prediction)",
            "shifted cells": "–",
            **{k: scores[f"{k}_control"] for k in ("rf_error", "r2_mean", "r2_mean_top_de")},
            "mean_distance": scores["mean_distance_control"],
            "delta_h": np.nan,
        }
    )
    return rows, predictions, train, held, control, models


def markdown_table(results: pd.DataFrame) -> str:
    columns = {
        "held out": "held out",
        "method": "method",
        "shifted cells": "shifted cells",
        "r2_mean": "R² all genes",
        "r2_mean_top_de": "R² top-100 DE",
        "rf_error": "RF error",
        "delta_h": "ΔH",
    }
    table = results[list(columns)].rename(columns=columns)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for _, row in table.iterrows():
        cells = [
            ("–" if np.isnan(v) else f"{v:.3f}") if isinstance(v, float) else str(v) for v in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    scvi.settings.seed = args.seed
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adata = load(args.data, args.n_hvg)
    log(f"data: {adata.n_obs} cells × {adata.n_vars} genes")
    results, figures = [], {}
    for cell_type in args.cell_types:
        rows, predictions, train, held, control, models = run_cell_type(adata, cell_type, args)
        results += rows
        figures[cell_type] = (predictions, held, control, train, models)
    results = pd.DataFrame(results)
    table = markdown_table(results)
    print(table)
    if args.table:
        Path(args.table).write_text(table + "\n")
    wins = []
    for cell_type in args.cell_types:
        part = results[results["held out"] == cell_type].set_index("method")["rf_error"]
        wins.append(part[METHODS[0][0]] > part[METHODS[2][0]])
    log(f"MichiGAN (sampled) beats the β-TCVAE decoder on RF error for {sum(wins)}/{len(wins)}")

    log("figures: fitting the reference UMAP of all cells")
    sc.settings.figdir = out
    everything = AnnData(adata.layers["log1p"], obs=adata.obs[[CELL_TYPE, CONDITION]].copy())
    everything.var_names = adata.var_names
    reference = mg.pl.reference_umap(everything, seed=args.seed)
    labels = [METHODS[i][0] for i in SHOWN]

    fig, axes = plt.subplots(
        len(args.cell_types), len(labels), figsize=(4 * len(labels), 3.6 * len(args.cell_types))
    )
    axes = np.atleast_2d(axes)
    for row, cell_type in zip(axes, args.cell_types, strict=True):
        predictions, held, _, train, _ = figures[cell_type]
        real = everything[held.obs_names]
        for ax, label in zip(row, labels, strict=True):
            shifted = everything[predictions[label].obs["source_cell"].unique()]
            mg.pl.prediction_umap(
                everything,
                predictions[label],
                real=real,
                control=shifted,
                embedding=reference,
                ax=ax,
                title=f"{cell_type} stimulated:\n{label}",
            )
            ax.title.set_fontsize(10)
    fig.tight_layout()
    fig.savefig(out / "prediction_kang_umap.png", dpi=120)

    first = args.cell_types[0]
    predictions, held, control, _, models = figures[first]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 4.0))
    for ax, label in zip(axes, labels, strict=True):
        mg.pl.reg_mean(
            predictions[label],
            held,
            control=control,
            layer="log1p",
            n_labels=5,
            ax=ax,
            title=label,
        )
    fig.tight_layout()
    fig.savefig(out / "prediction_kang_reg_mean.png", dpi=120)

    gan = models["michigan"]
    start = int(np.flatnonzero(control.obs_names[0] == gan.adata.obs_names)[0])
    traversals = [gan.traverse(cell=start, dim=d, n_steps=40, seed=args.seed) for d in range(10)]
    mg.pl.traversal(
        everything,
        traversals,
        embedding=reference,
        ncols=5,
        save=out / "prediction_kang_traversal.png",
        show=False,
    )
    log("done")


if __name__ == "__main__":
    main()
