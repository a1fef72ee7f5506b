"""``michigan.benchmark.run``: methods × metrics × seeds on a preset, with tables and figures."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ._figures import generation_figure, knn_codes_figure, latent_bars_figure
from ._methods import METHODS, BenchmarkData, BenchmarkSettings, log_normalize
from ._presets import get_preset, load_preset
from ._report import to_markdown
from ._scoring import real_split_scores, score_method

#: Epochs of the VAEs and GANs at CPU sizes, and at the paper's sizes (1000 for every model).
#: At CPU sizes the VAEs train for the β-TCVAE's default epochs for the number of cells
#: (``None``; 200 at 5,000 cells): at 50 and at 100 the disentanglement of the Splatter
#: presets was lower and less even over seeds (docs/paper_benchmark.md, "Seed study").
CPU_EPOCHS = {"tcvae": None, "gan": 25}
PAPER_EPOCHS = {"tcvae": 1000, "gan": 1000}
#: The pseudo-method whose "generated" cells are one half of the real cells against the other.
REAL_SPLIT = "real-split"


def run(
    preset: str = "splatter_nonlinear",
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    out_dir: str | os.PathLike | None = "benchmark_out",
    *,
    paper_sizes: bool = False,
    n_cells: int | None = None,
    n_genes: int | None = None,
    path: str | os.PathLike | None = None,
    n_latent: int = 10,
    beta: float | None = None,
    max_epochs_tcvae: int | None = None,
    max_epochs_gan: int | None = None,
    n_generated: int = 3_000,
    data_seed: int = 0,
    accelerator: str = "auto",
    tcvae_kwargs: dict | None = None,
    gan_kwargs: dict | None = None,
    n_estimators: int = 100,
    n_jobs: int | None = None,
    figures: bool = True,
    verbose: bool = True,
) -> pd.DataFrame:
    """Run the paper's benchmark: methods × metrics × seeds on a named data set.

    For each seed, every method is trained on the same cells (simulated once, with
    ``data_seed``) and scored: the codes of real cells by disentanglement metrics on the
    posterior (``mig`` with posterior variances where the method has them, ``spearman_gap``,
    ``factorvae_score``); generated cells by ``knn_spearman_gap`` (codes vs kNN-predicted
    factors, k = 3), ``frechet_distance``, ``rf_error``, per-gene fidelity and, on real data
    with cell types, the inception score. Generation is scored in log-normalised space
    (``log1p(1e4 · x / Σx)``), the GANs' space; decoders generate by sampling counts from
    their negative binomial at the source cells' libraries. ``real-split`` scores one half
    of the real cells against the other (the floor of each generation metric).

    Writes to ``out_dir``: ``metrics.csv`` (tidy: preset, method, seed, metric, value),
    ``per_latent.csv`` (per-latent MI and correlations), ``summary.md`` (mean ± SD over
    seeds), ``settings.json`` and the figures ``fig1_latent_bars.png`` (Fig. 1c–d),
    ``fig2_generation.png`` (Fig. 2) and ``fig4b_knn_codes.png`` (Fig. 4b).

    Parameters
    ----------
    preset
        A data set of :data:`~michigan.benchmark.PRESETS`: ``splatter_linear``,
        ``splatter_nonlinear``, ``prosstt_3``, ``prosstt_4``, ``prosstt_5``, ``pbmc68k``,
        ``kang`` (with ``path``).
    methods
        Names of :data:`~michigan.benchmark.METHODS`; all by default.
    seeds
        Seeds of the models (one run of every method per seed); the preset's
        ``default_seeds`` by default (0–4 on the simulations, 0–1 on the real sets).
    out_dir
        Folder of the outputs; ``None`` writes nothing.
    paper_sizes
        10,000 cells × 2,000 genes and 1000 epochs of every model (a GPU's work) instead of
        5,000 × 1,000, the β-TCVAE's default epochs for that many cells (200: see
        :meth:`michigan.TCVAE.train`) for every VAE and 25 GAN epochs.
    n_cells, n_genes
        Override the data size.
    path
        Local file of a real data set.
    n_latent
        Code width of every method.
    beta
        Total-correlation weight of the β-TCVAE (and KL weight of the β-VAE); the preset's
        (10 on Splatter, 50 on PROSSTT) by default.
    max_epochs_tcvae, max_epochs_gan
        Override the epochs.
    n_generated
        Cells generated per method (at most the number of cells).
    data_seed
        Seed of the simulation.
    accelerator
        Lightning's accelerator.
    tcvae_kwargs, gan_kwargs
        Extra arguments of every VAE (:class:`~michigan.TCVAE`) and every GAN. On presets that
        score library size (the simulations) the VAEs are built with
        ``decode_library=True``, as the paper's decoder had no library input;
        ``tcvae_kwargs={"decode_library": False}`` gives them the observed library instead.
    n_estimators
        Trees of the random forests of ``rf_error`` and ``inception_score``.
    n_jobs
        Parallel jobs of the random forests.
    figures
        Draw the figures.
    verbose
        Print a line per method.

    Returns
    -------
    The tidy DataFrame of scores (``preset``, ``method``, ``seed``, ``metric``, ``value``).

    Examples
    --------
    >>> import michigan as mg
    >>> results = mg.benchmark.run("splatter_nonlinear", seeds=(0, 1), out_dir="bench")
    >>> mg.benchmark.summarize(results)
    """
    spec = get_preset(preset)
    methods = _check_methods(methods)
    seeds = _check_seeds(spec.default_seeds if seeds is None else seeds)
    epochs = PAPER_EPOCHS if paper_sizes else CPU_EPOCHS
    spec, adata = load_preset(
        preset,
        paper_sizes=paper_sizes,
        n_cells=n_cells,
        n_genes=n_genes,
        seed=data_seed,
        path=path,
    )
    n_generated = int(min(n_generated, adata.n_obs))
    if max_epochs_tcvae is None:
        from ..model import default_max_epochs

        max_epochs_tcvae = epochs["tcvae"] or default_max_epochs(adata.n_obs)
    base = BenchmarkSettings(
        n_latent=n_latent,
        beta=spec.beta if beta is None else float(beta),
        max_epochs_tcvae=max_epochs_tcvae,
        max_epochs_gan=epochs["gan"] if max_epochs_gan is None else max_epochs_gan,
        n_generated=n_generated,
        accelerator=accelerator,
        tcvae_kwargs={
            # a preset that scores library size gives its VAEs the paper's decoder, without
            # the observed library, so that a latent can carry it
            "decode_library": "library_size" in spec.factors,
            **(tcvae_kwargs or {}),
        },
        gan_kwargs=dict(gan_kwargs or {}),
    )
    log_expression = log_normalize(adata.layers["counts"])
    _say(
        verbose,
        f"[benchmark] {preset}: {adata.n_obs} cells × {adata.n_vars} genes; "
        f"methods {', '.join(methods)}; seeds {list(seeds)}",
    )

    record = {
        "preset": preset,
        "methods": list(methods),
        "seeds": list(seeds),
        "paper_sizes": paper_sizes,
        "n_cells": adata.n_obs,
        "n_genes": adata.n_vars,
        "data_seed": data_seed,
        "settings": {k: v for k, v in asdict(base).items() if k != "seed"},
    }
    rows, per_latent = [], []
    for seed in seeds:
        settings = BenchmarkSettings(**{**asdict(base), "seed": seed})
        source = np.sort(
            np.random.default_rng(seed).choice(adata.n_obs, n_generated, replace=False)
        )
        data = BenchmarkData(adata, log_expression, source, spec.factors)
        for method in methods:
            start = time.perf_counter()
            output = METHODS[method](data, settings)
            trained = time.perf_counter() - start
            scores, tables = score_method(
                output,
                data,
                labels_key=spec.labels_key,
                seed=seed,
                n_estimators=n_estimators,
                n_jobs=n_jobs,
            )
            scored = time.perf_counter() - start - trained
            scores["seconds"] = trained
            rows += [(preset, method, seed, name, value) for name, value in scores.items()]
            per_latent += [table.assign(method=method, seed=seed) for table in tables]
            shown = ", ".join(f"{k} {v:.3g}" for k, v in scores.items() if k != "seconds")
            _say(
                verbose,
                f"[benchmark] seed {seed} {method}: trained {trained:.0f}s, "
                f"scored {scored:.0f}s; {shown}",
            )
            if out_dir is not None:  # partial results survive an interrupted run
                _tidy(rows).to_csv(_folder(out_dir) / "metrics.csv", index=False)
        split = real_split_scores(
            data, labels_key=spec.labels_key, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
        )
        rows += [(preset, REAL_SPLIT, seed, name, value) for name, value in split.items()]
        if out_dir is not None:
            record["seeds_done"] = sorted({row[2] for row in rows})
            _write(_tidy(rows), _long(per_latent), _folder(out_dir), spec, record, figures)
            _say(verbose, f"[benchmark] seed {seed} done; wrote {out_dir}")
    results = _tidy(rows)
    return results


def merge(
    folders: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, figures: bool = True
) -> pd.DataFrame:
    """Combine runs of one preset (e.g. one seed each, run side by side) into one report.

    Parameters
    ----------
    folders
        Output folders of :func:`run` (each with ``metrics.csv``, ``per_latent.csv`` and
        ``settings.json``), of the same preset and settings but other seeds.
    out_dir
        Folder to write the combined CSVs, ``summary.md``, ``settings.json`` and figures to.
    figures
        Draw the figures.

    Returns
    -------
    The combined tidy DataFrame.

    Examples
    --------
    >>> import michigan as mg
    >>> mg.benchmark.merge(["bench_seed0", "bench_seed1"], "bench")  # doctest: +SKIP
    """
    folders = [Path(folder) for folder in folders]
    if not folders:
        raise ValueError("folders is empty; pass the output folders of benchmark runs")
    records = [json.loads((folder / "settings.json").read_text()) for folder in folders]
    presets = {record["preset"] for record in records}
    if len(presets) != 1:
        raise ValueError(f"the folders hold runs of different presets: {sorted(presets)}")
    results = pd.concat([pd.read_csv(f / "metrics.csv") for f in folders], ignore_index=True)
    duplicated = results.duplicated(["method", "seed", "metric"])
    if duplicated.any():
        seeds = sorted(results.loc[duplicated, "seed"].unique().tolist())
        raise ValueError(f"seed(s) {seeds} appear in more than one folder; merge other seeds")
    long = pd.concat([pd.read_csv(f / "per_latent.csv") for f in folders], ignore_index=True)
    long["latent"] = long["latent"].astype(str)
    record = {
        **records[0],
        "seeds": sorted({seed for r in records for seed in r["seeds"]}),
        "seeds_done": sorted(results["seed"].unique().tolist()),
        "merged_from": [str(folder) for folder in folders],
    }
    _write(results, long, _folder(out_dir), get_preset(records[0]["preset"]), record, figures)
    return results


def _tidy(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["preset", "method", "seed", "metric", "value"])


def _long(per_latent: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["method", "seed", "kind", "latent", "factor", "value"]
    if not per_latent:
        return pd.DataFrame(columns=columns)
    return pd.concat(per_latent, ignore_index=True)[columns]


def _folder(out_dir: str | os.PathLike) -> Path:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write(results, long, out_dir: Path, spec, record: dict, figures: bool) -> None:
    """The CSVs, the markdown summary, the settings and the figures of a run so far."""
    results.to_csv(out_dir / "metrics.csv", index=False)
    long.to_csv(out_dir / "per_latent.csv", index=False)
    title = f"{spec.name}: {spec.description}"
    (out_dir / "summary.md").write_text(to_markdown(results, title=title, preset=spec.name))
    (out_dir / "settings.json").write_text(json.dumps(record, indent=2, default=str))
    if figures:
        latent_bars_figure(long, out_dir / "fig1_latent_bars.png", title=spec.name)
        generation_figure(results, out_dir / "fig2_generation.png", title=spec.name)
        knn_codes_figure(long, out_dir / "fig4b_knn_codes.png", title=spec.name)


def _check_methods(methods: Sequence[str] | None) -> list[str]:
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [methods]
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(
            f"unknown method(s) {', '.join(map(repr, unknown))}; choose from {', '.join(METHODS)}"
        )
    if not methods:
        raise ValueError(f"methods is empty; name at least one of {', '.join(METHODS)}")
    return methods


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int | np.integer):
        seeds = [seeds]
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=(0,)")
    if any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative integers, got {seeds}")
    return [int(s) for s in dict.fromkeys(seeds)]


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, flush=True)
