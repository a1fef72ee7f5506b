"""Where the memory of training a β-TCVAE from a backed ``.h5ad`` goes, phase by phase.

A thread samples the process's resident memory every 5 ms and files each sample under the
phase running: opening the file backed, ``setup_anndata``, building the model, the training
set-up and first steps, steps 3 to ``--steps``, the latent diagnosis after training, and two
standalone ``get_latent_representation`` calls. Printed: each phase's peak and its end,
above the memory after the imports (Linux only).

Run ``python benchmarks/profile_on_disk_memory.py FILE.h5ad [--steps 120]`` with a file of
counts in ``.X`` (``bench_scale.write_sparse_h5ad`` writes one).
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings

import anndata
import scvi
import torch
from lightning.pytorch.callbacks import Callback

import michigan as mg


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


class _PhaseSampler:
    """Peak and end resident memory of each named phase."""

    def __init__(self):
        self.phase, self.order = "imports", []
        self.peaks, self.ends = {}, {}
        self._stop = False
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop:
            rss, phase = _rss_mib(), self.phase
            if phase not in self.peaks:
                self.peaks[phase] = rss
                self.order.append(phase)
            self.peaks[phase] = max(self.peaks[phase], rss)
            time.sleep(0.005)

    def enter(self, phase: str) -> None:
        self.ends[self.phase] = _rss_mib()
        self.phase = phase
        time.sleep(0.02)

    def stop(self) -> None:
        self.ends[self.phase] = _rss_mib()
        self._stop = True
        self._thread.join()


class _TrainingPhases(Callback):
    def __init__(self, sampler: _PhaseSampler):
        self.sampler = sampler

    def on_train_start(self, *args):
        self.sampler.enter("training set-up and first steps")

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 3:
            self.sampler.enter("steps 3 to the end")

    def on_train_end(self, *args):
        self.sampler.enter("latent diagnosis after training")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    base = _rss_mib()
    sampler = _PhaseSampler()
    sampler.enter("read_h5ad(backed='r')")
    adata = anndata.read_h5ad(args.path, backed="r")
    sampler.enter("setup_anndata")
    mg.TCVAE.setup_anndata(adata)
    sampler.enter("TCVAE(adata)")
    scvi.settings.seed = 0
    model = mg.TCVAE(adata)
    sampler.enter("train() before its first step")
    model.train(
        max_steps=args.steps,
        max_epochs=10**6,
        batch_size=256,
        train_size=1.0,
        enable_progress_bar=False,
        callbacks=[_TrainingPhases(sampler)],
    )
    sampler.enter("get_latent_representation()")
    codes = model.get_latent_representation()
    sampler.enter("get_latent_representation(return_dist=True)")
    mean, variance = model.get_latent_representation(return_dist=True)
    sampler.stop()
    print(f"{adata.n_obs:,} cells; {base:.0f} MiB after the imports; MiB above that:")
    for phase in sampler.order:
        print(
            f"{phase:45s} peak {sampler.peaks[phase] - base:7.0f}   "
            f"end {sampler.ends[phase] - base:7.0f}"
        )
    del codes, mean, variance


if __name__ == "__main__":
    main()
