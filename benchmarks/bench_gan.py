"""Speed of the WGAN-GP training plan against a bare PyTorch loop doing the same work.

One "GAN pass" is one epoch: the critic steps once on every minibatch of the cells and the
generator steps on every ``n_critic``-th minibatch. Both sides use the same networks (the
paper's MichiGAN generator and projection critic, built by :class:`michigan.module.GANModule`),
the same data (synthetic counts, log-normalised per minibatch), the same losses, penalty and
Adam settings. The plan runs through ``MichiGAN.train`` (Lightning, scvi-tools' runner, the
in-memory data splitter); the bare loop indexes tensors directly. Epochs are timed from epoch
start to epoch end after one warm-up epoch, alternating the two sides, best of ``--repeats``.

Run: ``python benchmarks/bench_gan.py`` (prints a markdown table).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import lightning.pytorch as pl
import numpy as np
import scvi
import torch
from anndata import AnnData

import michigan as mg
from michigan.module import GANModule, gradient_penalty

N_CODE = 10
N_CRITIC = 5


def synthetic(n_cells: int, n_genes: int, seed: int = 0) -> AnnData:
    """Poisson counts with gamma gene rates and varying library sizes, plus random codes."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.6, 1 / 0.3, size=(1, n_genes)) * rng.lognormal(0, 0.3, (n_cells, 1))
    counts = rng.poisson(rates).astype(np.float32)
    adata = AnnData(counts)
    adata.obsm["X_code"] = rng.standard_normal((n_cells, N_CODE)).astype(np.float32)
    return adata


def _clocks() -> np.ndarray:
    """Wall time and this process's CPU time."""
    return np.array([time.perf_counter(), time.process_time()])


class EpochTimer(pl.Callback):
    """Wall and CPU time of every training epoch."""

    def __init__(self):
        self.times: list[np.ndarray] = []

    def on_train_epoch_start(self, trainer, plan):
        self._start = _clocks()

    def on_train_epoch_end(self, trainer, plan):
        self.times.append(_clocks() - self._start)


def plan_epoch(adata: AnnData, batch_size: int) -> tuple[np.ndarray, float]:
    """(wall, CPU) seconds of the second epoch through ``MichiGAN.train``; the whole call."""
    model = mg.MichiGAN(adata, representation="X_code")
    timer = EpochTimer()
    start = time.perf_counter()
    model.train(
        max_epochs=2,
        batch_size=batch_size,
        n_critic=N_CRITIC,
        accelerator="cpu",
        enable_progress_bar=False,
        callbacks=[timer],
    )
    return timer.times[1], time.perf_counter() - start


def bare_epoch(adata: AnnData, batch_size: int) -> np.ndarray:
    """(wall, CPU) seconds of the second epoch of a plain PyTorch loop with the same steps."""
    module = GANModule(n_genes=adata.n_vars, n_code=N_CODE, n_noise=118)
    module.train()
    counts = torch.from_numpy(np.asarray(adata.X, dtype=np.float32))
    codes = torch.from_numpy(adata.obsm["X_code"])
    generator, critic = module.generator, module.critic
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    n_cells, steps, times = counts.shape[0], 0, []
    for _ in range(2):
        start = _clocks()
        order = torch.randperm(n_cells)
        for first in range(0, n_cells, batch_size):
            index = order[first : first + batch_size]
            if len(index) < 3:
                continue
            library = counts[index].sum(-1, keepdim=True).clamp_min(1e-12)
            x = torch.log1p(counts[index] * (1e4 / library))
            code = codes[index]
            with torch.no_grad():
                fake = generator(code, torch.randn(len(index), 118))
            real_score, fake_score = critic(torch.cat([x, fake]), torch.cat([code, code])).chunk(2)
            loss = 10.0 * gradient_penalty(critic, x, fake, code) - (
                real_score.mean() - fake_score.mean()
            )
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            steps += 1
            if steps % N_CRITIC == 0:
                critic.requires_grad_(False)
                g_loss = -critic(generator(code, torch.randn(len(index), 118)), code).mean()
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                critic.requires_grad_(True)
        times.append(_clocks() - start)
    return times[1]


def main(argv: list[str] | None = None) -> None:
    """Time both sides and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=10_000)
    parser.add_argument("--n-genes", type=int, default=2_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine more threads than free cores make both "
        "sides many times slower and the ratio noise)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    scvi.settings.seed = 0
    adata = synthetic(args.n_cells, args.n_genes)
    mg.MichiGAN.setup_anndata(adata)

    rows = []
    for batch_size in args.batch_sizes:
        bare, plan, call = [], [], []
        for _ in range(args.repeats):
            bare.append(bare_epoch(adata, batch_size))
            epoch, whole = plan_epoch(adata, batch_size)
            plan.append(epoch)
            call.append(whole)
        n_batches = int(np.ceil(args.n_cells / batch_size))
        bare, plan = np.min(bare, axis=0), np.min(plan, axis=0)
        rows.append((batch_size, n_batches, bare, plan, min(call)))

    machine = f"{os.cpu_count()} CPUs ({platform.machine()})"
    print(
        f"\nGAN pass over {args.n_cells:,} cells × {args.n_genes:,} genes "
        f"(n_critic={N_CRITIC}, paper networks); torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), {machine}\n"
    )
    print(
        "| batch | critic / generator steps | bare loop, wall / CPU (s) | plan, wall / CPU (s) "
        "| plan / bare, wall | plan / bare, CPU | whole `train()` call, 2 epochs (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch_size, n_batches, bare, plan, call in rows:
        ratio = plan / bare
        print(
            f"| {batch_size} | {n_batches} / {n_batches // N_CRITIC} "
            f"| {bare[0]:.2f} / {bare[1]:.2f} | {plan[0]:.2f} / {plan[1]:.2f} "
            f"| {ratio[0]:.3f}× | {ratio[1]:.3f}× | {call:.2f} |"
        )


if __name__ == "__main__":
    main()
