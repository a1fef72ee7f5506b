"""scGen on the Kang leave-one-out folds of ``michigan benchmark kang-loo``, scored alike.

scGen is not a dependency of ``michigan``; this script runs in a separate environment that has
pertpy (whose ``pertpy.tools.Scgen`` re-implements scGen in JAX) *and* this package, so that
scGen sees exactly the benchmark's folds: the same 2,000 HVGs chosen on all cells, the same
held-out cells, the same log-normalised expression, and is scored by the same functions
(:func:`michigan.benchmark.leave_one_out` with ``methods=["scGen"]``). Install (CPU wheels; the
released ``scgen`` 2.1.0 does not import with scvi-tools 1.4, and statsmodels 0.15 breaks
pertpy 1.0.3's import)::

    python3 -m venv .venv-scgen && . .venv-scgen/bin/activate && pip install uv
    uv pip install --find-links /opt/wheels -c constraints.txt 'torch==2.13.0+cpu' \\
        -e . pertpy 'statsmodels<0.15'

Run (one thread; about one CPU-minute per fold)::

    OMP_NUM_THREADS=1 python benchmarks/kang_loo_scgen.py \\
        --path kang_pbmc_ifnb_scgen_valid.h5ad --out kang_loo_scgen/ \\
        --merge kang_loo/kang_loo.csv

``--sizes published`` (the default) trains scGen with its authors' network (800 hidden units,
2 layers, 100 latents; pertpy's defaults) and their Kang schedule (at most 100 epochs, batches
of 32, early stopping); ``--sizes benchmark`` gives it the benchmark's 10 latents instead.
Writes ``kang_loo_scgen.csv``, ``kang_loo_scgen.md`` and one reg-mean figure per type; with
``--merge`` (the CSV of ``michigan benchmark kang-loo``) also ``kang_loo_with_scgen.csv`` and
``kang_loo_with_scgen.md``, the two tables in one.

pertpy's ``Scgen.predict`` draws its balanced subsample of cells for the latent Δ with an
unseeded generator, so two runs differ slightly even with the same ``--seed``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# One CPU thread for XLA (JAX) and torch; set before either is imported.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pandas as pd

SIZES = {"published": {}, "benchmark": None}


def main() -> None:
    """Parse the options, run scGen on every fold and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="Kang's .h5ad (scGen's valid set)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--epochs", type=int, default=100, help="most epochs of scGen")
    parser.add_argument("--sizes", choices=list(SIZES), default="published")
    parser.add_argument("--cell-types", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", type=Path, default=None, help="kang_loo.csv to join")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    import pertpy  # noqa: F401  (fail here, clearly, rather than skip scGen inside)

    import michigan as mg
    from michigan.benchmark._leave_one_out_report import leave_one_out_markdown

    adata = mg.datasets.kang_pbmc(args.path)
    start = time.process_time()
    results = mg.benchmark.leave_one_out(
        adata,
        "cell_type",
        "condition",
        "control",
        "stimulated",
        args.out,
        cell_types=args.cell_types,
        methods=["scGen"],
        max_epochs_scgen=args.epochs,
        scgen_kwargs=SIZES[args.sizes],
        accelerator="cpu",
        n_jobs=1,
        prefix="kang_loo_scgen",
        seed=args.seed,
    )
    seconds = time.process_time() - start
    print(f"scGen on {results['held_out'].nunique()} folds: {seconds:.0f} CPU s")
    print(leave_one_out_markdown(results))
    if args.merge is not None:
        merged = pd.concat([pd.read_csv(args.merge), results], ignore_index=True)
        merged.to_csv(args.out / "kang_loo_with_scgen.csv", index=False)
        (args.out / "kang_loo_with_scgen.md").write_text(leave_one_out_markdown(merged))
        print(f"wrote {args.out}/kang_loo_with_scgen.csv and .md")


if __name__ == "__main__":
    main()
