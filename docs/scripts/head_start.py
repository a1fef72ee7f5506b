"""Would starting the library-size head at the data's mean profile help generation?

Usage: ``python docs/scripts/head_start.py splatter|pbmc start|zeros|default STEPS``; appends
one JSON line of metrics to ``head_start.jsonl``. ``start`` sets the head's bias to each gene's
mean share of a cell's counts, scaled to mean 1; ``zeros`` sets it so that each gene starts
at exactly zero in the fraction of cells where the data have it at zero (the bias is
``σ · Φ⁻¹(1 − z_g)``, σ the spread of the head's input-driven term at initialisation);
``default`` keeps PyTorch's initialisation (about half of the genes start at exactly zero in
every cell).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import scvi
import torch
from scipy import sparse
from sklearn.decomposition import PCA

import michigan as mg
from michigan._normalize import log_normalize

warnings.simplefilter("ignore")
torch.set_num_threads(1)
data, mode, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if data == "splatter":
    adata = mg.datasets.splatter_paths(preset="nonlinear", n_cells=3000, n_genes=1000, seed=0)
else:
    adata = mg.datasets.pbmc68k()
counts = adata.layers["counts"]
counts = counts.toarray() if sparse.issparse(counts) else np.asarray(counts)
real = log_normalize(counts)
adata.obsm["X_code"] = PCA(10, random_state=0).fit_transform(real).astype(np.float32)
scvi.settings.seed = 0
mg.MichiGAN.setup_anndata(adata, layer="counts")
model = mg.MichiGAN(adata, representation="X_code")
head = model.module.generator.head.linear
if mode == "start":
    shares = (counts / np.maximum(counts.sum(1, keepdims=True), 1)).mean(0)
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(shares / shares.mean()))
elif mode == "zeros":
    from scipy.stats import norm

    captured = {}
    hook = head.register_forward_hook(lambda m, i, o: captured.setdefault("x", o - m.bias))
    with torch.no_grad():
        model.module.eval()
        codes = torch.as_tensor(adata.obsm["X_code"][:512])
        model.module.generator(codes, model.module.sample_noise(512, device="cpu"))
    hook.remove()
    spread = float(captured["x"].std())
    zero_fraction = np.clip((real == 0).mean(0), 1e-3, 1 - 1e-3)
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(spread * norm.ppf(1 - zero_fraction), dtype=torch.float32))
clock = time.process_time()
model.train(max_steps=steps, monitor=False, enable_progress_bar=False)
cpu = time.process_time() - clock
generated = model.generate(seed=1).X
varying = real.std(0) > 0
result = {
    "data": data,
    "mode": mode,
    "steps": steps,
    "cpu_s": round(cpu, 1),
    "zeros": float((generated == 0).mean()),
    "zeros_real": float((real == 0).mean()),
    "sd_ratio": float(np.median(generated.std(0)[varying] / real.std(0)[varying])),
    "frechet": mg.metrics.frechet_distance(real, generated, seed=0),
    "rf_error": mg.metrics.rf_error(real, generated, seed=0),
}
print(json.dumps(result))
with open("head_start.jsonl", "a") as log:
    log.write(json.dumps(result) + "\n")
