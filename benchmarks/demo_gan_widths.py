"""The demo's GAN stage with the default and with halved networks: CPU seconds and realism.

The demo's settings (pbmc68k, a β-TCVAE with 10 latents, β = 10, 100 epochs; MichiGAN on its
sampled codes at batch 64), one torch thread; one JSON line per variant.

Run: ``python benchmarks/demo_gan_widths.py default_1500 small_1500`` (figures in
docs/benchmarks.md).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import scvi
import torch

import michigan as mg
from michigan._normalize import log_normalize

SMALL = {"generator_hidden": (128, 256, 512), "critic_hidden": (512, 256)}
VARIANTS = {
    "default_1500": ({}, 1500),
    "small_1500": (SMALL, 1500),
    "small_3000": (SMALL, 3000),
}


def main(names: list[str]) -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    scvi.settings.seed = 0
    adata = mg.datasets.pbmc68k()
    mg.TCVAE.setup_anndata(adata, layer="counts")
    tcvae = mg.TCVAE(adata, n_latent=10, beta=10)
    tcvae.train(max_epochs=100, enable_progress_bar=False)
    counts = adata.layers["counts"]
    counts = counts.toarray() if hasattr(counts, "toarray") else counts
    real = log_normalize(np.asarray(counts, dtype=np.float32))
    for name in names:
        networks, steps = VARIANTS[name]
        scvi.settings.seed = 0
        mg.MichiGAN.setup_anndata(adata, layer="counts")
        model = mg.MichiGAN(adata, representation=tcvae, code_source="sample", **networks)
        cpu, wall = time.process_time(), time.perf_counter()
        model.train(max_steps=steps, batch_size=64, enable_progress_bar=False)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        twins = model.generate(adata=adata, seed=0)
        row = {
            "variant": name,
            "steps": steps,
            "cpu_s": round(cpu, 1),
            "wall_s": round(wall, 1),
            "rf_error": mg.metrics.rf_error(real, twins.X, seed=0),
            "frechet": mg.metrics.frechet_distance(real, twins.X, seed=0),
            "zeros_generated": float((twins.X == 0).mean()),
            "zeros_real": float((real == 0).mean()),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["default_1500", "small_1500"])
