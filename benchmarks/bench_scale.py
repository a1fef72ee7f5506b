"""Generating many cells: straight to an ``.h5ad`` file against a bare loop of forward passes.

A WGAN-GP with the default networks on 2,000 genes (trained for a few steps: speed does not
depend on the weights) generates ``n`` cells three ways, side by side in one process:

- ``bare``: the generator's forward passes over the same batches, outputs discarded (the
  floor: what generation costs without keeping anything);
- ``file``: ``model.generate(n_samples=n, out=path)``, the cells written batch by batch as
  CSR to an ``.h5ad`` file;
- ``memory``: ``model.generate(n_samples=n)``, a dense matrix in memory (up to
  ``--max-memory-cells``).

For each: wall and CPU seconds, and the peak resident memory above the start of the call
(Linux: the peak is reset through ``/proc/self/clear_refs`` before each call and read from
``VmHWM``). Then training: the β-TCVAE's cost per step (minibatch 256) on sparse counts
(2,000 genes, 5 % non-zero) held dense (densified once) or as CSR (each minibatch densified
on its own), from the difference of a 20-step and a 120-step run (set-up excluded).

With ``--on-disk-cells``, the same steps on a backed ``.h5ad`` (``read_h5ad(path,
backed="r")``, CSR written like ``write_h5ad`` writes it): the file is built in a temporary
folder (``--tmp-dir``), each size is measured in a process of its own (its peak memory is
counted from the end of its imports, and includes the latent diagnosis over every cell after
training), then the file is deleted. The cost of a step there is the median time between
the ends of consecutive steps (steps 20-120 of one run, loading the minibatch included),
and its 10th percentile (less disturbed by other processes, which only add time). Reported
besides: the CPU time of reading one minibatch of 256 random rows from the file, and of
loading a minibatch during training (from the end of a step to the start of the next).

Run ``python benchmarks/bench_scale.py [--cells 10000 100000 1000000] [--train-cells ...]
[--on-disk-cells 10000 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from anndata.io import sparse_dataset, write_elem
from lightning.pytorch.callbacks import Callback
from scipy import sparse

import michigan as mg

N_GENES = 2_000
BATCH_SIZE = 1024


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _measure(run) -> dict[str, float]:
    """Wall and CPU seconds of ``run()``, and its peak RSS above the RSS at its start (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start_rss = _rss_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_above_start_mib": (_rss_kib("VmHWM") - start_rss) / 1024,
    }


def _model() -> mg.WGANGP:
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(0.6, 1 / 0.3, size=(1, N_GENES)), size=(512, N_GENES))
    adata = AnnData(counts.astype(np.float32))
    mg.WGANGP.setup_anndata(adata)
    model = mg.WGANGP(adata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(max_steps=2, batch_size=128, monitor=False, enable_progress_bar=False)
    return model


def _bare_loop(model: mg.WGANGP, n_cells: int) -> None:
    module = model.module
    module.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for start in range(0, n_cells, BATCH_SIZE):
            size = min(BATCH_SIZE, n_cells - start)
            module.generate(None, module.sample_noise(size, device="cpu", generator=generator))


def _sparse_counts(n_cells: int, density: float = 0.05, seed: int = 0) -> AnnData:
    """Counts with about ``density`` non-zero entries per cell, built directly as CSR."""
    rng = np.random.default_rng(seed)
    per_row = int(density * N_GENES)
    columns = np.sort(rng.integers(0, N_GENES, size=(n_cells, per_row)), axis=1)
    values = rng.poisson(3.0, size=(n_cells, per_row)).astype(np.float32) + 1
    indptr = np.arange(0, n_cells * per_row + 1, per_row)
    matrix = sparse.csr_matrix((values.ravel(), columns.ravel(), indptr), (n_cells, N_GENES))
    matrix.sum_duplicates()
    return AnnData(matrix)


def _distinct_columns_csr(
    rng: np.random.Generator, n_cells: int, per_row: int
) -> sparse.csr_matrix:
    """``per_row`` distinct genes per cell (sorted), counts 1 + Poisson(3)."""
    scores = rng.random((n_cells, N_GENES), dtype=np.float32)
    columns = np.sort(np.argpartition(scores, per_row, axis=1)[:, :per_row], axis=1)
    values = (rng.poisson(3.0, size=(n_cells, per_row)) + 1).astype(np.float32)
    indptr = np.arange(0, n_cells * per_row + 1, per_row)
    return sparse.csr_matrix(
        (values.ravel(), columns.astype(np.int32).ravel(), indptr), shape=(n_cells, N_GENES)
    )


def write_sparse_h5ad(
    path: Path, n_cells: int, density: float = 0.05, block: int = 10_000, seed: int = 0
) -> None:
    """An ``.h5ad`` of sparse counts written block by block (never whole in memory)."""
    rng = np.random.default_rng(seed)
    per_row = int(density * N_GENES)
    with h5py.File(path, "w") as file:
        file.attrs["encoding-type"], file.attrs["encoding-version"] = "anndata", "0.1.0"
        write_elem(file, "obs", pd.DataFrame(index=[f"cell-{i}" for i in range(n_cells)]))
        write_elem(file, "var", pd.DataFrame(index=[f"gene-{j}" for j in range(N_GENES)]))
        first = min(block, n_cells)
        write_elem(file, "X", _distinct_columns_csr(rng, first, per_row))
        matrix = sparse_dataset(file["X"])
        for start in range(first, n_cells, block):
            matrix.append(_distinct_columns_csr(rng, min(block, n_cells - start), per_row))


class _StepClock(Callback):
    """CPU and wall clock at the start and end of every training step.

    Lightning fetches the next minibatch between the end of a step and the start of the
    next, so ``start[i] - end[i - 1]`` is (mostly) the cost of loading a minibatch.
    """

    def __init__(self):
        self.cpu, self.wall, self.cpu_start = [], [], []

    def on_train_batch_start(self, *args, **kwargs):
        self.cpu_start.append(time.process_time())

    def on_train_batch_end(self, *args, **kwargs):
        self.cpu.append(time.process_time())
        self.wall.append(time.perf_counter())


def _measure_on_disk(path: Path, n_steps: int = 120, skip: int = 20) -> dict[str, float]:
    """Per-step cost on a backed file, minibatch read cost and peak memory above the import.

    The cost of a step is the median time between the ends of consecutive steps after the
    first ``skip`` (robust to the other processes of a shared machine).
    """
    load_before = os.getloadavg()[0]
    Path("/proc/self/clear_refs").write_text("5")
    after_import = _rss_kib("VmRSS")
    adata = anndata.read_h5ad(path, backed="r")
    matrix = mg.data.OnDiskMatrix.from_backed(adata.X)
    rng = np.random.default_rng(0)
    read = []
    for _ in range(50):
        rows = rng.integers(adata.n_obs, size=256)
        start = time.process_time()
        matrix.rows(rows)
        read.append(time.process_time() - start)
    scvi.settings.seed = 0
    mg.TCVAE.setup_anndata(adata)
    model = mg.TCVAE(adata)
    clock = _StepClock()
    model.train(
        max_steps=n_steps,
        max_epochs=10**6,
        batch_size=256,
        train_size=1.0,
        enable_progress_bar=False,
        callbacks=[clock],
    )
    return {
        "cells": adata.n_obs,
        "file_mib": path.stat().st_size / 2**20,
        "read_256_rows_ms": 1e3 * float(np.median(read)),
        "cpu_ms_per_step": 1e3 * float(np.median(np.diff(clock.cpu[skip:]))),
        "cpu_ms_per_step_p10": 1e3 * float(np.percentile(np.diff(clock.cpu[skip:]), 10)),
        "load_minibatch_cpu_ms": 1e3
        * float(np.median(np.subtract(clock.cpu_start[skip + 1 :], clock.cpu[skip:-1]))),
        "wall_ms_per_step": 1e3 * float(np.median(np.diff(clock.wall[skip:]))),
        "peak_above_import_mib": (_rss_kib("VmHWM") - after_import) / 1024,
        "load_average": [load_before, os.getloadavg()[0]],
    }


def _on_disk_table(sizes: list[int], tmp_dir: str | None, threads: int) -> None:
    print(
        "\n| cells | file size | read 256 random rows, CPU ms | load a minibatch in training, "
        "CPU ms | CPU ms / step (median) | CPU ms / step (10th percentile) | wall ms / step "
        "| peak above the import | load average (start, end) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(dir=tmp_dir) as folder:
        for n_cells in sizes:
            path = Path(folder) / f"counts_{n_cells}.h5ad"
            write_sparse_h5ad(path, n_cells)
            result = subprocess.run(
                [sys.executable, __file__, "--measure-file", str(path), "--threads", str(threads)],
                capture_output=True,
                text=True,
                check=True,
            )
            path.unlink()
            row = json.loads(result.stdout.strip().splitlines()[-1])
            print(
                f"| {n_cells:,} | {row['file_mib']:.0f} MiB | {row['read_256_rows_ms']:.1f} "
                f"| {row['load_minibatch_cpu_ms']:.1f} | {row['cpu_ms_per_step']:.1f} "
                f"| {row['cpu_ms_per_step_p10']:.1f} | {row['wall_ms_per_step']:.1f} "
                f"| {row['peak_above_import_mib']:.0f} MiB "
                f"| {row['load_average'][0]:.1f}, {row['load_average'][1]:.1f} |",
                flush=True,
            )


def _train_steps(adata: AnnData, n_steps: int, densify_below_bytes: int) -> dict[str, float]:
    scvi.settings.seed = 0
    mg.TCVAE.setup_anndata(adata)
    model = mg.TCVAE(adata)
    return _measure(
        lambda: model.train(
            max_steps=n_steps,
            max_epochs=10**6,
            batch_size=256,
            train_size=1.0,
            enable_progress_bar=False,
            datasplitter_kwargs={"densify_below_bytes": densify_below_bytes},
        )
    )


def _per_step(adata: AnnData, densify_below_bytes: int) -> dict[str, float]:
    """CPU and wall seconds per training step (120-step run minus 20-step run) and peak RSS."""
    short = _train_steps(adata, 20, densify_below_bytes)
    long = _train_steps(adata, 120, densify_below_bytes)
    return {
        "cpu_s": (long["cpu_s"] - short["cpu_s"]) / 100,
        "wall_s": (long["wall_s"] - short["wall_s"]) / 100,
        "peak_above_start_mib": long["peak_above_start_mib"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--max-memory-cells", type=int, default=100_000)
    parser.add_argument("--train-cells", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--on-disk-cells", type=int, nargs="*", default=[])
    parser.add_argument("--tmp-dir", default=None, help="folder of the temporary files")
    parser.add_argument("--measure-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    if args.measure_file is not None:  # a child process of --on-disk-cells
        print(json.dumps(_measure_on_disk(Path(args.measure_file))))
        return
    if not args.cells:
        if args.on_disk_cells:
            _on_disk_table(args.on_disk_cells, args.tmp_dir, args.threads)
        return
    scvi.settings.seed = 0
    model = _model()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n_cells in args.cells:
            path = Path(folder) / f"cells_{n_cells}.h5ad"
            bare = _measure(lambda n=n_cells: _bare_loop(model, n))
            to_file = _measure(
                lambda n=n_cells, p=path: model.generate(n_samples=n, seed=0, out=p)
            )
            size_mib = path.stat().st_size / 2**20
            path.unlink()
            memory = None
            if n_cells <= args.max_memory_cells:
                memory = _measure(lambda n=n_cells: model.generate(n_samples=n, seed=0))
            rows.append((n_cells, bare, to_file, size_mib, memory))
    print(f"torch threads: {args.threads}; {N_GENES} genes; batches of {BATCH_SIZE} cells\n")
    print(
        "| cells | bare loop CPU s | to file CPU s | file / bare (CPU) | file / bare (wall) "
        "| peak above start, file | file size | in memory CPU s | peak above start, memory |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n_cells, bare, to_file, size_mib, memory in rows:
        memory_cells = (
            f"{memory['cpu_s']:.1f} | {memory['peak_above_start_mib']:.0f} MiB"
            if memory
            else "– | –"
        )
        print(
            f"| {n_cells:,} | {bare['cpu_s']:.1f} | {to_file['cpu_s']:.1f} "
            f"| {to_file['cpu_s'] / bare['cpu_s']:.2f}× "
            f"| {to_file['wall_s'] / bare['wall_s']:.2f}× "
            f"| {to_file['peak_above_start_mib']:.0f} MiB | {size_mib:.0f} MiB | {memory_cells} |"
        )

    if args.on_disk_cells:
        _on_disk_table(args.on_disk_cells, args.tmp_dir, args.threads)
    if not args.train_cells:
        return
    print("\n| cells | CSR size | store | CPU ms / step | wall ms / step | peak above start |")
    print("|---:|---:|---|---:|---:|---:|")
    for n_cells in args.train_cells:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = _sparse_counts(n_cells)
            csr_mib = (
                adata.X.data.nbytes + adata.X.indices.nbytes + adata.X.indptr.nbytes
            ) / 2**20
            stores = {"CSR": 0} if n_cells > 20_000 else {"dense": 2**62, "CSR": 0}
            for store, threshold in stores.items():
                step = _per_step(adata.copy(), threshold)
                print(
                    f"| {n_cells:,} | {csr_mib:.0f} MiB | {store} | {1e3 * step['cpu_s']:.1f} "
                    f"| {1e3 * step['wall_s']:.1f} | {step['peak_above_start_mib']:.0f} MiB |"
                )


if __name__ == "__main__":
    main()
