"""Wall time and peak memory of every metric on 1,000,000 synthetic cells.

Run as ``python benchmarks/bench_metrics.py``; prints a markdown table. The disentanglement
metrics score 10 latents against 4 factors (2 batches, 2 paths, 20 steps, a log-normal library
size); the generation metrics compare two sparse count matrices of 100 genes. Peak memory is
what Python and numpy allocated during each metric (``tracemalloc``, the inputs excluded); the
last line gives the process's maximum resident set size, inputs included.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from michigan import metrics

N_LATENT = 10
N_GENES = 100


def synthetic_codes(n_cells: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Codes whose first four latents carry one factor each, posterior variances, factors."""
    rng = np.random.default_rng(seed)
    factors = pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice(["b1", "b2"], n_cells)),
            "path": pd.Categorical(rng.choice(["A", "B"], n_cells)),
            "step": rng.integers(1, 21, n_cells),
            "library_size": rng.lognormal(11.0, 0.2, n_cells),
        }
    )
    codes = rng.standard_normal((n_cells, N_LATENT))
    codes[:, 0] += 2.0 * factors["batch"].cat.codes.to_numpy()
    codes[:, 1] += 2.0 * factors["path"].cat.codes.to_numpy()
    codes[:, 2] += factors["step"].to_numpy() / 5.0
    codes[:, 3] += 5.0 * (np.log(factors["library_size"].to_numpy()) - 11.0)
    variances = np.full((n_cells, N_LATENT), 0.25)
    return codes, variances, factors


def synthetic_counts(n_cells: int, seed: int, chunk: int = 100_000) -> sparse.csr_matrix:
    """Sparse Poisson counts (about 10% non-zero), built in chunks to stay small."""
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.02, 0.3, N_GENES)
    blocks = [
        sparse.csr_matrix(rng.poisson(rates, (min(chunk, n_cells - start), N_GENES)), dtype=float)
        for start in range(0, n_cells, chunk)
    ]
    return sparse.vstack(blocks).tocsr()


def measure(run: Callable[[], object]) -> tuple[float, float]:
    """Wall time (s) and tracemalloc peak (MiB) of one call."""
    tracemalloc.start()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def max_rss_mib() -> float:
    """The process's maximum resident set size so far (ru_maxrss is KiB on Linux, B on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=1_000_000)
    parser.add_argument("--skip-generation", action="store_true", help="latent metrics only")
    args = parser.parse_args(argv)
    n = args.n_cells

    codes, variances, factors = synthetic_codes(n, seed=0)
    predicted = codes + 0.5 * np.random.default_rng(1).standard_normal(codes.shape)
    cases: dict[str, Callable[[], object]] = {
        "mutual_info (binned, all cells)": lambda: metrics.mutual_info(codes, factors),
        "mutual_info (posterior, 10,000 cells)": lambda: metrics.mutual_info(
            codes, factors, posterior_var=variances
        ),
        "mig (binned)": lambda: metrics.mig(codes, factors),
        "spearman_gap": lambda: metrics.spearman_gap(codes, factors),
        "factorvae_score": lambda: metrics.factorvae_score(codes, factors),
        "latent_entropy_delta (10,000 cells a side)": lambda: metrics.latent_entropy_delta(
            predicted, codes, predicted_var=variances, real_var=variances
        ),
    }
    if not args.skip_generation:
        real = synthetic_counts(n, seed=2)
        generated = synthetic_counts(n, seed=3)
        cell_types = factors["path"].to_numpy()
        cases |= {
            "rf_error (3,000 + 3,000 cells)": lambda: metrics.rf_error(real, generated),
            "inception_score (3,000 cells)": lambda: metrics.inception_score(
                real, generated, cell_types
            ),
            "frechet_distance (3,000 + 3,000 cells)": lambda: metrics.frechet_distance(
                real, generated
            ),
            "gene_fidelity (all cells, streamed)": lambda: metrics.gene_fidelity(real, generated),
            # the neighbour search is linear in the generated cells: 100,000 of them here
            "knn_factor_prediction (10,000 reference, 100,000 generated)": lambda: (
                metrics.knn_factor_prediction(
                    real, generated[: min(n, 100_000)], factors[["step", "path"]]
                )
            ),
        }

    print(
        f"{n:,} cells, {N_LATENT} latents, 4 factors"
        + ("" if args.skip_generation else f", {N_GENES} genes (sparse)")
    )
    print()
    print("| metric | wall time (s) | peak memory (MiB) |")
    print("|---|---:|---:|")
    for name, run in cases.items():
        seconds, peak = measure(run)
        print(f"| `{name}` | {seconds:.1f} | {peak:.0f} |", flush=True)
    print()
    print(f"Maximum resident set size of the process: {max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
