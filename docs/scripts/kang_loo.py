"""Leave-one-out prediction benchmark on the Kang PBMC data (docs/prediction.md).

Each cell type's stimulated cells are held out in turn (``michigan.data.hold_out``); on the
rest (top 2,000 HVGs chosen on all cells) a β-TCVAE, MichiGAN on its codes, a plain VAE and,
when ``pertpy`` imports, scGen are trained; the held-out cells are predicted with scGen's
arithmetic (``predict``'s default: the held-out type's control cells shifted by the
stimulation effect of the other types) and scored against the real ones. Methods:

- MichiGAN, sampled codes (cells from the generator);
- β-TCVAE, sampled codes, cells drawn from its likelihood (``expression="sample"``);
- VAE (α = β = γ = 1), the same;
- scGen (``pertpy.tools.Scgen``), if importable;
- control unchanged: the held-out type's control cells as they are;
- mean shift: those control cells plus the mean stimulated-minus-control difference of the
  other types in log-normalised gene space (each type weighted equally).

Metrics: R² of mean expression over all genes and over the top-100 DE genes (control vs real
stimulated cells of the held-out type), E-distance on 50 PCs (fitted on the training cells),
random-forest error, and the fraction of the top-100 DE genes whose predicted change from the
control cells has the real change's sign. Writes a CSV and a markdown table to ``--out`` and
one reg-mean figure per held-out type.

Run from the repository root (all seven types, the defaults, take hours on 2 CPU cores):

    python docs/scripts/kang_loo.py \
        --data ../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad --out docs/_static/kang_loo
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
from scipy.spatial.distance import cdist

import michigan as mg

CELL_TYPE, CONDITION = "cell_type", "condition"
STIMULATED, CONTROL = "stimulated", "control"
LAYER = "log1p"
START = time.time()


def log(message: str) -> None:
    print(f"[{time.time() - START:7.1f}s] {message}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad")
    parser.add_argument("--out", default="docs/_static/kang_loo")
    parser.add_argument("--cell-types", nargs="+", default=None, help="default: all seven")
    parser.add_argument("--n-hvg", type=int, default=2000)
    parser.add_argument("--beta", type=float, default=10.0, help="TC weight of the β-TCVAE")
    parser.add_argument("--epochs-vae", type=int, default=100)
    parser.add_argument("--epochs-gan", type=int, default=50)
    parser.add_argument("--epochs-scgen", type=int, default=100)
    parser.add_argument("--batch-size-gan", type=int, default=64)
    parser.add_argument("--no-scgen", action="store_true", help="skip scGen even if it imports")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load(path: str, n_hvg: int) -> AnnData:
    """Counts of the top HVGs (chosen on all cells) and their ``log1p`` at 1e4 per cell."""
    adata = mg.datasets.kang_pbmc(path)
    scout = adata.copy()
    sc.pp.normalize_total(scout, target_sum=1e4)
    sc.pp.log1p(scout)
    sc.pp.highly_variable_genes(scout, n_top_genes=n_hvg)
    adata = adata[:, scout.var["highly_variable"].to_numpy()].copy()
    adata.X = adata.layers["counts"].copy()
    normalised = sc.pp.normalize_total(adata, target_sum=1e4, inplace=False)["X"]
    adata.layers[LAYER] = np.log1p(normalised)
    return adata


def dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


def cells(data: AnnData, mask: np.ndarray) -> np.ndarray:
    return dense(data[mask].layers[LAYER])


def mean_shift(train: AnnData, cell_type: str) -> np.ndarray:
    """The held-out type's control cells plus the other types' mean stimulation effect."""
    labels, conditions = train.obs[CELL_TYPE].to_numpy(), train.obs[CONDITION].to_numpy()
    effects = []
    for other in pd.unique(labels):
        stim = (labels == other) & (conditions == STIMULATED)
        ctrl = (labels == other) & (conditions == CONTROL)
        if other != cell_type and stim.any() and ctrl.any():
            effects.append(cells(train, stim).mean(axis=0) - cells(train, ctrl).mean(axis=0))
    source = (labels == cell_type) & (conditions == CONTROL)
    return cells(train, source) + np.mean(effects, axis=0)


def scgen_prediction(train: AnnData, cell_type: str, args) -> np.ndarray | None:
    """pertpy's scGen on the log-normalised training cells, or ``None`` if it is missing."""
    if args.no_scgen:
        return None
    try:
        import pertpy as pt
    except ImportError as error:
        log(f"  scGen skipped: pertpy does not import ({error})")
        return None
    data = AnnData(dense(train.layers[LAYER]), obs=train.obs[[CELL_TYPE, CONDITION]].copy())
    data.var_names = train.var_names
    pt.tl.Scgen.setup_anndata(data, batch_key=CONDITION, labels_key=CELL_TYPE)
    model = pt.tl.Scgen(data)
    model.train(max_epochs=args.epochs_scgen, batch_size=32, early_stopping=True)
    predicted, _ = model.predict(
        ctrl_key=CONTROL, stim_key=STIMULATED, celltype_to_predict=cell_type
    )
    return dense(predicted.X)


def e_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance 2 E‖x − y‖ − E‖x − x'‖ − E‖y − y'‖ (Euclidean, on PCs)."""
    return float(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())


def score(predicted: np.ndarray, real: np.ndarray, control: np.ndarray, context: dict) -> dict:
    de = context["de_index"]
    real_mean, predicted_mean, control_mean = (m.mean(axis=0) for m in (real, predicted, control))
    right_direction = np.sign(predicted_mean[de] - control_mean[de]) == np.sign(
        real_mean[de] - control_mean[de]
    )
    pca = context["pca"]
    return {
        "r2_all": mg.metrics.r2_of_means(real_mean, predicted_mean),
        "r2_top100_de": mg.metrics.r2_of_means(real_mean[de], predicted_mean[de]),
        "e_distance": e_distance(pca.transform(predicted), pca.transform(real)),
        "rf_error": mg.metrics.rf_error(real, predicted, seed=context["seed"]),
        "de_direction": float(right_direction.mean()),
    }


def run_cell_type(adata: AnnData, cell_type: str, args) -> tuple[list[dict], dict]:
    train, held = mg.data.hold_out(adata, CELL_TYPE, CONDITION, [(cell_type, STIMULATED)])
    log(f"{cell_type}: {train.n_obs} training cells, {held.n_obs} held out")
    is_control = (train.obs[CELL_TYPE] == cell_type) & (train.obs[CONDITION] == CONTROL)
    control = train[is_control.to_numpy()]
    real, control_x = dense(held.layers[LAYER]), dense(control.layers[LAYER])
    de_genes = mg.metrics.top_de_genes(control, held, 100, layer=LAYER)
    context = {
        "de_index": train.var_names.get_indexer(de_genes),
        "pca": mg.metrics.fit_pca(train.layers[LAYER], 50, args.seed),
        "seed": args.seed,
    }
    train_kwargs = {"enable_progress_bar": False}
    mg.TCVAE.setup_anndata(train, layer="counts")
    tcvae = mg.TCVAE(train, n_latent=10, beta=args.beta)
    tcvae.train(max_epochs=args.epochs_vae, **train_kwargs)
    vae = mg.TCVAE(train, n_latent=10, alpha=1.0, beta=1.0, gamma=1.0)
    vae.train(max_epochs=args.epochs_vae, **train_kwargs)
    mg.MichiGAN.setup_anndata(train, layer="counts")
    gan = mg.MichiGAN(train, representation=tcvae, code_source="sample")
    gan.train(max_epochs=args.epochs_gan, batch_size=args.batch_size_gan, **train_kwargs)
    log("  models trained")
    request = {
        "cell_type_key": CELL_TYPE,
        "perturbation_key": CONDITION,
        "target": (cell_type, STIMULATED),
        "n_cells": held.n_obs,
        "seed": args.seed,
    }
    predictions = {
        "MichiGAN": gan.predict(**request).X,
        "β-TCVAE": tcvae.predict(**request, expression="sample").X,
        "VAE": vae.predict(**request, expression="sample").X,
    }
    scgen = scgen_prediction(train, cell_type, args)
    if scgen is not None:
        predictions["scGen"] = scgen
    predictions["control unchanged"] = control_x
    predictions["mean shift"] = mean_shift(train, cell_type)
    rows = []
    for method, predicted in predictions.items():
        rows.append(
            {"held out": cell_type, "method": method, **score(predicted, real, control_x, context)}
        )
        log(f"  {method}: R² top-100 DE {rows[-1]['r2_top100_de']:.3f}")
    return rows, {"predictions": predictions, "real": real, "control": control_x, "de": de_genes}


def reg_mean_figure(cell_type: str, figure: dict, genes: pd.Index, path: Path) -> None:
    methods = list(figure["predictions"])
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.3))
    real_mean = figure["real"].mean(axis=0)
    de = genes.get_indexer(figure["de"])
    for ax, method in zip(np.atleast_1d(axes), methods, strict=True):
        predicted_mean = np.asarray(figure["predictions"][method]).mean(axis=0)
        ax.scatter(real_mean, predicted_mean, s=3, c="0.6", rasterized=True)
        ax.scatter(real_mean[de], predicted_mean[de], s=5, c="tab:red")
        top = max(real_mean.max(), predicted_mean.max())
        ax.plot([0, top], [0, top], lw=0.8, c="k")
        r2 = mg.metrics.r2_of_means(real_mean[de], predicted_mean[de])
        ax.set_title(f"{method}\nR² top-100 DE {r2:.2f}", fontsize=9)
        ax.set_xlabel("real mean")
    np.atleast_1d(axes)[0].set_ylabel(f"predicted mean ({cell_type} stimulated)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: pd.DataFrame) -> str:
    columns = [
        "held out",
        "method",
        "r2_all",
        "r2_top100_de",
        "e_distance",
        "rf_error",
        "de_direction",
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in results[columns].iterrows():
        lines.append(
            "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    scvi.settings.seed = args.seed
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adata = load(args.data, args.n_hvg)
    cell_types = args.cell_types or sorted(adata.obs[CELL_TYPE].astype(str).unique())
    log(f"data: {adata.n_obs} cells × {adata.n_vars} genes; held out in turn: {cell_types}")
    results = []
    for cell_type in cell_types:
        rows, figure = run_cell_type(adata, cell_type, args)
        results += rows
        pd.DataFrame(results).to_csv(out / "kang_loo.csv", index=False)
        reg_mean_figure(
            cell_type, figure, adata.var_names, out / f"kang_loo_reg_mean_{cell_type}.png"
        )
    results = pd.DataFrame(results)
    summary = results.groupby("method", sort=False).mean(numeric_only=True).reset_index()
    summary.insert(0, "held out", "mean")
    table = markdown(pd.concat([results, summary], ignore_index=True))
    (out / "kang_loo.md").write_text(table + "\n")
    print(table)
    log("done")


if __name__ == "__main__":
    main()
