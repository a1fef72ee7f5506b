"""The Kang leave-one-out of docs/prediction.md, MichiGAN and the β-TCVAE.

OMP_NUM_THREADS=1 python run_leave_one_out.py OUT VAE_EPOCHS GAN_EPOCHS [SEED] [TYPES]

``TYPES`` (comma-separated) holds out only those cell types, so that one seed's folds can be
split over several processes.
"""

import sys
import time

import torch

import michigan as mg

torch.set_num_threads(1)
adata = mg.datasets.kang_pbmc("/work/shared/data/kang_pbmc_ifnb_scgen_valid.h5ad")
t = time.time()
res = mg.benchmark.leave_one_out(
    adata,
    "cell_type",
    "condition",
    "control",
    "stimulated",
    out_dir=sys.argv[1],
    methods=["MichiGAN", "β-TCVAE"],
    max_epochs_vae=int(sys.argv[2]),
    max_epochs_gan=int(sys.argv[3]),
    seed=int(sys.argv[4]) if len(sys.argv) > 4 else 0,
    cell_types=sys.argv[5].split(",") if len(sys.argv) > 5 else None,
    progress_bar=False,
    prefix="kang_loo",
)
print(res.groupby("method")[["r2_top100_de", "r2_all", "rf_error", "e_distance"]].mean())
print("seconds", time.time() - t)
