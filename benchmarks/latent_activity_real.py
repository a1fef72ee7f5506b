"""Per-latent KL to the prior of β-TCVAEs trained on pbmc68k and Kang (the threshold check).

OMP_NUM_THREADS=1 nice -n 10 python benchmarks/latent_activity_real.py OUT.csv [TRAIN_JSON]

``TRAIN_JSON`` (optional) is passed to ``TCVAE.train``, e.g. ``'{"n_epochs_kl_warmup": 12}'``.
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd
import scvi
import torch

import michigan as mg

torch.set_num_threads(1)
warnings.simplefilter("ignore")
train_kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
rows = []
for preset, beta, epochs in (("pbmc68k", 10.0, 100), ("kang", 50.0, 50)):
    _, adata = mg.benchmark.load_preset(
        preset, path="../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad"
    )
    scvi.settings.seed = 0
    mg.TCVAE.setup_anndata(adata, layer="counts")
    model = mg.TCVAE(adata, n_latent=10, beta=beta)
    model.train(max_epochs=epochs, enable_progress_bar=False, accelerator="cpu", **train_kwargs)
    print(preset, model.summary_string, flush=True)
    table = model.get_latent_activity().assign(
        preset=preset, beta=beta, epochs=epochs, train=json.dumps(train_kwargs)
    )
    rows.append(table)
    pd.concat(rows).to_csv(sys.argv[1])
