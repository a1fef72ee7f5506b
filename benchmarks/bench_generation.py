"""Generation quality against CPU time: MichiGAN, WGAN-GP, β-TCVAE samples, GMM, PPCA.

Per data set and seed the cells are split into two random halves. Every method is trained
(on all cells by default, as the paper trains; ``--train-on half`` trains on the other half
only) and generates as many cells as the **reference half** holds; every metric then compares
equal numbers of real and generated cells. The **real half** row scores the other half of the
real cells against the reference half: the floor (or ceiling) no generator can beat at this
number of cells, since the Fréchet distance on 50 components is biased upwards when few cells
estimate the covariances.

Methods: MichiGAN (β-TCVAE codes of training cells, then ``--gan-minutes`` of GAN training,
cells generated from the codes of training cells), WGAN-GP (the same GAN minutes), β-TCVAE
samples (counts drawn from the likelihood by ``TCVAE.generate``: at training cells' posterior
means and libraries, and from the prior), a Gaussian mixture on 50 PCs and probabilistic PCA
(the benchmark's baselines). The CPU time of MichiGAN includes its β-TCVAE's.

Metrics (``michigan.metrics``, on log-normalised expression): Fréchet distance on 50 pooled
PCs, random-forest error (the paper's protocol: 0.5 is indistinguishable), kNN precision and
recall (k = 3), fraction of zeros, library ``Σ expm1(x)`` (median, and the fraction of cells
within 1 % of 10,000), per-gene mean and SD correlation and the median per-gene SD ratio.

Run: ``python benchmarks/bench_generation.py --datasets pbmc68k --seeds 0 --gan-minutes 2``;
writes ``generation.csv``, ``generation.md`` and ``generation_quality_vs_time.png`` to
``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan.benchmark import BenchmarkSettings
from michigan.benchmark._methods import BenchmarkData, beta_tcvae, gmm, log_normalize, ppca

DATASETS = ("pbmc68k", "kang", "splatter_nonlinear", "pancreas")
TARGET_SUM = 1e4
N_HVG = 2000
#: ../shared/data beside the checkout, as the tests find it.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def top_variable_genes(adata: AnnData, n_genes: int) -> AnnData:
    """The ``n_genes`` genes of highest variance in log-normalised expression."""
    if adata.n_vars <= n_genes:
        return adata
    scaled = log_normalize(adata.layers["counts"])
    genes = np.sort(np.argsort(-scaled.var(axis=0), kind="stable")[:n_genes])
    return adata[:, genes].copy()


def load(name: str, data_dir: Path) -> AnnData | None:
    """Cells with raw counts in ``.layers["counts"]``; ``None`` (with a message) if absent."""
    if name == "pbmc68k":
        return mg.datasets.pbmc68k()
    if name == "splatter_nonlinear":
        return mg.datasets.splatter_paths(preset="nonlinear", n_cells=5000, n_genes=1000, seed=0)
    file = (
        data_dir
        / {
            "kang": "kang_pbmc_ifnb_scgen_valid.h5ad",
            "pancreas": "pancreas_endocrinogenesis_739.h5ad",
        }[name]
    )
    if not file.exists():
        print(f"skipping {name}: {file} is absent (pass --data-dir)")
        return None
    reader = mg.datasets.kang_pbmc if name == "kang" else mg.datasets.pancreas
    return top_variable_genes(reader(file), N_HVG)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def _clocks() -> np.ndarray:
    return np.array([time.process_time(), time.perf_counter()])


def _quiet(model, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(enable_progress_bar=False, enable_model_summary=False, **kwargs)


def _report_monitor(name: str, model) -> None:
    """Print the GAN's generator steps and the realism monitor's choice (to the log)."""
    monitor = model.realism_monitor_
    if monitor is not None and monitor.distances:
        print(
            f"{name}: {monitor.distances[-1][0]} generator steps; monitor's best "
            f"{monitor.best_distance:.3g} at step {monitor.best_step} of "
            f"{[round(value, 2) for _, value in monitor.distances]}",
            flush=True,
        )


def run_methods(train: AnnData, n_eval: int, args, seed: int) -> dict[str, tuple]:
    """``{method: (generated log-expression, (CPU s, wall s))}``, ``n_eval`` cells each."""
    rng = np.random.default_rng(seed)
    data = BenchmarkData(
        adata=train,
        log_expression=log_normalize(train.layers["counts"]),
        source_cells=np.sort(rng.choice(train.n_obs, n_eval, replace=train.n_obs < n_eval)),
        factors=(),
    )
    settings = BenchmarkSettings(
        n_latent=10,
        beta=args.beta,
        max_epochs_tcvae=args.tcvae_epochs,
        n_generated=n_eval,
        accelerator="cpu",
        seed=seed,
    )
    # a step budget (the same for both GANs) when given: comparable on a busy machine
    gan_budget = (
        {"max_steps": args.gan_steps, "max_time": None}
        if args.gan_steps
        else {"max_time": {"minutes": args.gan_minutes}}
    )
    results = {}
    for name, method in {"PPCA": ppca, "GMM": gmm, "β-TCVAE samples": beta_tcvae}.items():
        start = _clocks()
        generated = method(data, settings).generated
        results[name] = (generated, _clocks() - start)
    tcvae, tcvae_time = data.cache["beta-TCVAE"], results["β-TCVAE samples"][1]
    start = _clocks()
    prior = tcvae.generate(n_samples=n_eval, seed=seed)
    results["β-TCVAE prior samples"] = (np.asarray(prior.X), tcvae_time + _clocks() - start)

    if not args.skip_wgan:
        start = _clocks()
        scvi.settings.seed = seed
        mg.WGANGP.setup_anndata(train, layer="counts")
        wgan = mg.WGANGP(train, **args.gan_kwargs)
        _quiet(wgan, **gan_budget, accelerator="cpu")
        _report_monitor("WGAN-GP", wgan)
        cells = wgan.generate(n_samples=n_eval, seed=seed)
        results["WGAN-GP"] = (np.asarray(cells.X), _clocks() - start)

    start = _clocks()
    scvi.settings.seed = seed
    mg.MichiGAN.setup_anndata(train, layer="counts")
    michigan = mg.MichiGAN(train, representation=tcvae, **args.gan_kwargs)
    _quiet(michigan, **gan_budget, accelerator="cpu")
    _report_monitor("MichiGAN", michigan)
    codes = michigan.get_latent_representation()[data.source_cells]
    cells = michigan.generate(codes=codes, seed=seed)
    results["MichiGAN"] = (np.asarray(cells.X), tcvae_time + _clocks() - start)
    return results


def score(real: np.ndarray, generated: np.ndarray, seed: int) -> dict[str, float]:
    """Every metric of ``generated`` against ``real`` (equal numbers of cells)."""
    n_cells = min(len(real), len(generated))
    fidelity, per_gene = mg.metrics.gene_fidelity(real, generated, return_per_gene=True)
    varying = per_gene["real_sd"] > 0
    library = np.expm1(np.asarray(generated, dtype=np.float64)).sum(axis=1)
    precision, recall = mg.metrics.knn_precision_recall(
        real, generated, n_cells=n_cells, seed=seed
    )
    return {
        "frechet": mg.metrics.frechet_distance(real, generated, n_cells=n_cells, seed=seed),
        "rf_error": mg.metrics.rf_error(real, generated, n_cells=n_cells, seed=seed, n_jobs=1),
        "precision": precision,
        "recall": recall,
        "zero_fraction": float((generated == 0).mean()),
        "zero_fraction_real": float((real == 0).mean()),
        "library_median": float(np.median(library)),
        "library_at_target": float(np.mean(np.abs(library / TARGET_SUM - 1) < 0.01)),
        "mean_r": float(fidelity.loc["mean", "pearson_r"]),
        "sd_r": float(fidelity.loc["sd", "pearson_r"]),
        "sd_ratio": float(
            np.median(per_gene["generated_sd"][varying] / per_gene["real_sd"][varying])
        ),
    }


def run_dataset(name: str, adata: AnnData, seed: int, args) -> list[dict]:
    """Rows of the results table for one data set and seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(adata.n_obs)
    reference, other = np.sort(order[: adata.n_obs // 2]), np.sort(order[adata.n_obs // 2 :])
    n_eval = min(len(reference), len(other))
    counts = _dense(adata.layers["counts"]).astype(np.float32)
    real = log_normalize(counts[reference])
    train = adata if args.train_on == "all" else adata[other].copy()
    train = AnnData(
        X=sparse.csr_matrix(_dense(train.layers["counts"]).astype(np.float32)),
        var=pd.DataFrame(index=adata.var_names.astype(str)),
    )
    train.layers["counts"] = train.X.copy()
    generated = {"real half": (log_normalize(counts[other[:n_eval]]), np.zeros(2))}
    generated.update(run_methods(train, n_eval, args, seed))
    rows = []
    for method, (cells, (cpu, wall)) in generated.items():
        metrics = score(real, cells, seed)
        rows.append(
            {"dataset": name, "seed": seed, "method": method, "n_cells_per_side": n_eval}
            | {"cpu_s": round(float(cpu), 1), "wall_s": round(float(wall), 1)}
            | metrics
        )
        print(
            f"{name} seed {seed} {method}: "
            + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items())
        )
    return rows


COLUMNS = {
    "cpu_s": "CPU s",
    "frechet": "Fréchet (50 PCs)",
    "rf_error": "RF error",
    "precision": "kNN precision",
    "recall": "kNN recall",
    "zero_fraction": "zeros",
    "library_median": "library (median)",
    "library_at_target": "library = 10⁴",
    "mean_r": "gene mean r",
    "sd_r": "gene SD r",
    "sd_ratio": "SD ratio (median)",
}


def to_markdown(results: pd.DataFrame) -> str:
    """One table per data set: mean (± SD over seeds, with several seeds) per method."""
    lines = []
    for dataset, table in results.groupby("dataset", sort=False):
        n_seeds, n_cells = table["seed"].nunique(), int(table["n_cells_per_side"].iloc[0])
        zeros = table["zero_fraction_real"].mean()
        lines += [
            f"### {dataset} ({n_cells} cells a side, {n_seeds} seed(s); real zeros {zeros:.2f})",
            "",
            "| method | " + " | ".join(COLUMNS.values()) + " |",
            "|---|" + "---:|" * len(COLUMNS),
        ]
        grouped = table.groupby("method", sort=False)[list(COLUMNS)]
        means, sds = grouped.mean(), grouped.std()
        for method in means.index:
            cells = []
            for column in COLUMNS:
                value = f"{means.loc[method, column]:.3g}"
                if n_seeds > 1:
                    value += f" ± {sds.loc[method, column]:.2g}"
                cells.append(value)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(results: pd.DataFrame, path: Path) -> None:
    """Quality against CPU time: one row of panels per data set, the real half as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    metrics = ["frechet", "rf_error", "precision", "recall"]
    datasets = list(dict.fromkeys(results["dataset"]))
    methods = [m for m in dict.fromkeys(results["method"]) if m != "real half"]
    colours = dict(zip(methods, plt.get_cmap("tab10").colors, strict=False))
    figure, axes = plt.subplots(
        len(datasets), len(metrics), figsize=(4 * len(metrics), 3.4 * len(datasets)), squeeze=False
    )
    for row, dataset in zip(axes, datasets, strict=True):
        table = results[results["dataset"] == dataset]
        floor = table[table["method"] == "real half"]
        for axis, metric in zip(row, metrics, strict=True):
            for method in methods:
                runs = table[table["method"] == method]
                axis.scatter(runs["cpu_s"], runs[metric], color=colours[method], label=method)
            axis.axhline(floor[metric].mean(), color="grey", linestyle="--", label="real half")
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(ScalarFormatter())
            axis.xaxis.set_minor_formatter(NullFormatter())
            if metric == "frechet":
                axis.set_yscale("log")
            axis.set_xlabel("CPU seconds")
            axis.set_title(f"{dataset}: {COLUMNS[metric]}")
    axes[0, -1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    """Run the methods on the data sets and seeds; write the CSV, the tables and the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[:3]))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gan-minutes", type=float, default=10.0, help="wall time per GAN")
    parser.add_argument(
        "--gan-steps",
        type=int,
        default=None,
        help="generator steps per GAN instead of --gan-minutes (for a busy machine)",
    )
    parser.add_argument("--tcvae-epochs", type=int, default=100)
    parser.add_argument(
        "--gan-kwargs",
        type=json.loads,
        default={},
        help="JSON of network options for both GANs, e.g. the paper's critic",
    )
    parser.add_argument("--beta", type=float, default=10.0, help="β-TCVAE's TC weight")
    parser.add_argument("--train-on", choices=("all", "half"), default="all")
    parser.add_argument(
        "--skip-wgan",
        action="store_true",
        help="leave WGAN-GP out (after a change to MichiGAN only: read its row from a run before)",
    )
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generation"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the tables and figure from --out's CSV"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        results = pd.read_csv(args.out / "generation.csv")
        (args.out / "generation.md").write_text(to_markdown(results))
        plot(results, args.out / "generation_quality_vs_time.png")
        return
    rows = []
    for name in args.datasets:
        adata = load(name, args.data_dir)
        if adata is None:
            continue
        for seed in args.seeds:
            rows += run_dataset(name, adata, seed, args)
            results = pd.DataFrame(rows)
            results.to_csv(args.out / "generation.csv", index=False)  # after every seed
    if not rows:
        raise SystemExit("no data set could be loaded")
    (args.out / "generation.md").write_text(to_markdown(results))
    plot(results, args.out / "generation_quality_vs_time.png")
    print(to_markdown(results))


if __name__ == "__main__":
    main()
