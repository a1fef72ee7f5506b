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
    cell_types=sys.argv[3].split(","),
    seed=int(sys.argv[2]),
    progress_bar=False,
    prefix="kang_loo",
)
print(res.groupby("method")[["r2_top100_de", "r2_all", "rf_error", "e_distance"]].mean())
print("seconds", time.time() - t)
