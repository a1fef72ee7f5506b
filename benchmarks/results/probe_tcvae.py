"""Probe why β-TCVAE's MIG on splatter_nonlinear (CPU sizes) is below the SPEC's reference.

Same data and code path as ``michigan benchmark splatter_nonlinear``; varies one thing at a
time: the seed, the epochs, the minibatch size, β. Run with OMP_NUM_THREADS=1 on a shared CPU.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

import michigan as mg
from michigan.benchmark._methods import BenchmarkData, BenchmarkSettings, _train_vae, log_normalize
from michigan.metrics._utils import largest_gaps

warnings.simplefilter("ignore")
spec, adata = mg.benchmark.load_preset("splatter_nonlinear")
data = BenchmarkData(adata, log_normalize(adata.layers["counts"]), np.arange(10), spec.factors)
factors = adata.obs[list(spec.factors)]
VARIANTS = [
    ("seed 1", {"seed": 1}, {}),
    ("100 epochs", {"max_epochs_tcvae": 100}, {}),
    ("batch 128", {}, {"batch_size": 128}),
    ("beta 25", {"beta": 25.0}, {}),
]
rows = []
for name, settings_kwargs, train_kwargs in VARIANTS:
    settings = BenchmarkSettings(accelerator="cpu", **settings_kwargs)
    start = time.perf_counter()
    if train_kwargs:  # the benchmark's _train_vae with another minibatch size
        from michigan import TCVAE

        TCVAE.setup_anndata(adata, layer="counts")
        model = TCVAE(adata, n_latent=10, beta=settings.beta)
        model.train(
            max_epochs=settings.max_epochs_tcvae,
            train_size=1.0,
            accelerator="cpu",
            enable_progress_bar=False,
            **train_kwargs,
        )
    else:
        model = _train_vae(data, settings, alpha=1.0, beta=settings.beta)
    mean, var = model.get_latent_representation(return_dist=True)
    nmi = mg.metrics.mutual_info(mean, factors, posterior_var=var, seed=0)
    gaps = largest_gaps(nmi)
    rows.append(
        {
            "variant": name,
            "mig": gaps.mean(),
            **{f"gap_{k}": v for k, v in gaps.items()},
            "seconds": time.perf_counter() - start,
        }
    )
    print(rows[-1], flush=True)
    pd.DataFrame(rows).to_csv(sys.argv[1] if len(sys.argv) > 1 else "probe_tcvae.csv", index=False)
