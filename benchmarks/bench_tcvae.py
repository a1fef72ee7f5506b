"""Time a training epoch of michigan's TCVAE against a bare PyTorch loop and scvi-tools' SCVI.

All three train on the same 10,000 cells × 2,000 genes of negative-binomial counts, side by
side in one process, at batch sizes 128 and 512, with no validation split. The epochs of the
three are interleaved so that a busy machine slows them alike; the figures per method are the
median wall and CPU (process) time of an epoch, the first epoch of each run left out.

Run with ``nox -s bench`` or ``python benchmarks/bench_tcvae.py [--cells N --genes G]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from anndata import AnnData
from lightning.pytorch.callbacks import Callback
from scipy import sparse


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _now()
    return wall - start[0], cpu - start[1]


class EpochTimer(Callback):
    """Wall and CPU time of each training epoch."""

    def __init__(self):
        self.times: list[tuple[float, float]] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = _now()

    def on_train_epoch_end(self, trainer, pl_module):
        self.times.append(_since(self._start))


def negative_binomial_counts(n_cells: int, n_genes: int, seed: int = 0) -> AnnData:
    rng = np.random.default_rng(seed)
    n_programmes = 8
    programme = rng.integers(n_programmes, size=n_cells)
    means = rng.gamma(0.6, 1 / 0.3, size=(n_programmes, n_genes))
    mu = means[programme] * rng.lognormal(0, 0.3, size=(n_cells, 1))
    counts = rng.negative_binomial(2, 2 / (2 + mu)).astype(np.float32)
    return AnnData(sparse.csr_matrix(counts))


def time_framework(model_cls, adata, batch_size, n_epochs, **train_kwargs):
    timer = EpochTimer()
    model = model_cls(adata)
    model.train(
        max_epochs=n_epochs,
        batch_size=batch_size,
        train_size=1.0,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        callbacks=[timer],
        accelerator="cpu",
        **train_kwargs,
    )
    return timer.times


def time_bare_loop(module, adata, batch_size, n_epochs):
    """The same module trained by hand: permute, slice, forward, backward, step."""
    x = torch.from_numpy(adata.X.toarray())
    batch = torch.zeros(len(x), 1)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, eps=0.01, weight_decay=1e-6)
    module.train()
    times = []
    for _ in range(n_epochs):
        start = _now()
        order = torch.randperm(len(x))
        for begin in range(0, len(x), batch_size):
            rows = order[begin : begin + batch_size]
            if len(rows) < 3:
                continue
            tensors = {"X": x[rows], "batch": batch[rows]}
            _, _, loss_output = module(tensors, loss_kwargs={"n_obs": len(x), "kl_weight": 1.0})
            optimizer.zero_grad()
            loss_output.loss.backward()
            optimizer.step()
        times.append(_since(start))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is robust on a shared machine)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import scvi

    import michigan as mg
    from michigan.module import TCVAEModule

    scvi.settings.seed = 0
    adata = negative_binomial_counts(args.cells, args.genes)
    mg.TCVAE.setup_anndata(adata)
    scvi_adata = adata.copy()
    scvi.model.SCVI.setup_anndata(scvi_adata)

    print(f"{args.cells} cells × {args.genes} genes, torch threads: {torch.get_num_threads()}")
    rows = []
    for batch_size in args.batch_sizes:
        times = {"michigan TCVAE": [], "bare PyTorch loop": [], "scvi-tools SCVI": []}
        for _ in range(args.rounds):
            times["michigan TCVAE"] += time_framework(
                mg.TCVAE, adata, batch_size, args.epochs, n_epochs_kl_warmup=0
            )[1:]
            module = TCVAEModule(n_input=args.genes)
            times["bare PyTorch loop"] += time_bare_loop(module, adata, batch_size, args.epochs)[
                1:
            ]
            times["scvi-tools SCVI"] += time_framework(
                scvi.model.SCVI, scvi_adata, batch_size, args.epochs
            )[1:]
        medians = {
            name: tuple(statistics.median(t[i] for t in values) for i in (0, 1))
            for name, values in times.items()
        }
        bare_wall, bare_cpu = medians["bare PyTorch loop"]
        for name, (wall, cpu) in medians.items():
            rows.append((batch_size, name, wall, cpu, wall / bare_wall, cpu / bare_cpu))

    print(
        "\n| batch size | method | wall s / epoch | CPU s / epoch | × bare (wall) | × bare (CPU) |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for batch_size, name, wall, cpu, wall_ratio, cpu_ratio in rows:
        figures = f"{wall:.2f} | {cpu:.2f} | {wall_ratio:.2f} | {cpu_ratio:.2f}"
        print(f"| {batch_size} | {name} | {figures} |")


if __name__ == "__main__":
    main()
