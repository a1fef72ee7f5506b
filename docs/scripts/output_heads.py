"""Which output head makes generated cells realistic? One GAN, three heads, equal steps.

Usage: ``python docs/scripts/output_heads.py DATA HEAD STEPS [SEED]`` with DATA ``splatter``
(non-linear paths, 3,000 × 1,000), ``pbmc`` (pbmc68k_reduced) or ``kang`` (a path to the Kang
``.h5ad``; its 2,000 most variable genes), HEAD ``counts-nb``, ``counts-poisson`` or
``library_size``; appends one JSON line to ``output_heads.jsonl``. The GAN (MichiGAN with the
package defaults but the head) is conditioned on 10 principal components of the cells, so that
only the generator's output differs between runs; it is scored on all its training cells
(random-forest error and Fréchet distance on 50 PCs, fraction of zeros, per-gene SD ratio).
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
data, head, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
if data == "splatter":
    adata = mg.datasets.splatter_paths(preset="nonlinear", n_cells=3000, n_genes=1000, seed=0)
elif data == "pbmc":
    adata = mg.datasets.pbmc68k()
else:
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(data)
    if "counts" not in adata.layers:
        adata.layers["counts"] = adata.X.copy()
    sc.pp.highly_variable_genes(adata, n_top_genes=2000, flavor="seurat_v3", layer="counts")
    adata = adata[:, adata.var["highly_variable"]].copy()
    data = "kang"
counts = adata.layers["counts"]
counts = counts.toarray() if sparse.issparse(counts) else np.asarray(counts)
real = log_normalize(counts)
adata.obsm["X_code"] = PCA(10, random_state=0).fit_transform(real).astype(np.float32)
options = {
    "counts-nb": {"output_head": "counts", "count_likelihood": "nb"},
    "counts-poisson": {"output_head": "counts", "count_likelihood": "poisson"},
    "library_size": {"output_head": "library_size"},
}[head]
scvi.settings.seed = seed
mg.MichiGAN.setup_anndata(adata, layer="counts")
model = mg.MichiGAN(adata, representation="X_code", **options)
clock = time.process_time()
model.train(max_steps=steps, monitor=False, enable_progress_bar=False)
cpu = time.process_time() - clock
generated = model.generate(seed=seed + 1).X
varying = real.std(0) > 0
library = np.expm1(generated.astype(np.float64)).sum(1)
dispersion = model.module.dispersion
result = {
    "data": data,
    "head": head,
    "steps": steps,
    "seed": seed,
    "cpu_s": round(cpu, 1),
    "zeros": float((generated == 0).mean()),
    "zeros_real": float((real == 0).mean()),
    "sd_ratio": float(np.median(generated.std(0)[varying] / real.std(0)[varying])),
    "library_max_relative_error": float(np.abs(library / 1e4 - 1).max()),
    "frechet": mg.metrics.frechet_distance(real, generated, seed=0),
    "rf_error": mg.metrics.rf_error(real, generated, seed=0),
    "dispersion_median": None if dispersion is None else float(dispersion.median()),
}
print(json.dumps(result))
with open("output_heads.jsonl", "a") as log:
    log.write(json.dumps(result) + "\n")
