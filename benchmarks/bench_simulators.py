"""Wall time and peak memory of the simulators at the paper's sizes.

Run as ``python benchmarks/bench_simulators.py``; prints a markdown table. Peak memory is what
Python and numpy allocated during the run (``tracemalloc``), next to the size of the returned
count matrices (``.X`` plus ``.layers["counts"]``).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

from anndata import AnnData

from michigan.datasets import prosstt_tree, splatter_paths

CASES: dict[str, Callable[[], AnnData]] = {
    "splatter_paths(preset='linear')": lambda: splatter_paths(preset="linear"),
    "splatter_paths(preset='nonlinear')": lambda: splatter_paths(preset="nonlinear"),
    "prosstt_tree(preset='3-way')": lambda: prosstt_tree(preset="3-way"),
    "prosstt_tree(preset='4-way')": lambda: prosstt_tree(preset="4-way"),
    "prosstt_tree(preset='5-way')": lambda: prosstt_tree(preset="5-way"),
}


def _matrix_megabytes(adata: AnnData) -> float:
    total = 0
    for matrix in (adata.X, adata.layers["counts"]):
        total += matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    return total / 1e6


def measure(simulate: Callable[[], AnnData]) -> tuple[AnnData, float, float]:
    """Run ``simulate`` once; return its result, the wall time (s) and peak memory (MB)."""
    tracemalloc.start()
    start = time.perf_counter()
    adata = simulate()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return adata, seconds, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args(argv)
    print("| simulator | cells × genes | wall time (s) | peak memory (MB) | counts (MB) |")
    print("|---|---|---:|---:|---:|")
    for name, simulate in CASES.items():
        if args.only and args.only not in name:
            continue
        adata, seconds, peak = measure(simulate)
        print(
            f"| `{name}` | {adata.n_obs:,} × {adata.n_vars:,} | {seconds:.1f} | {peak:.0f} "
            f"| {_matrix_megabytes(adata):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
