"""Kang leave-one-out: MichiGAN's predictions from the monitor's pick against the last generator.

OMP_NUM_THREADS=1 python probe_monitor.py OUT.csv SEED TYPES

One β-TCVAE and one MichiGAN per held-out type (the settings of ``leave_one_out``: 100
β-TCVAE and 100 GAN epochs, minibatch 64); the GAN trains with the default realism monitor,
which puts its best weights back at the end, and a copy of the last weights is kept, so the
same model predicts twice: with the monitor's pick, then with the last generator. The
β-TCVAE's sampled cells are scored beside.
"""

import sys
import time

import pandas as pd
import torch

import michigan as mg
from michigan.benchmark._leave_one_out import (
    _dense,
    _fit_fold_models,
    _fold_settings,
    _held_out_type,
    _log_normalised_hvgs,
    _prediction_request,
)
from michigan.benchmark._leave_one_out_report import score_prediction
from michigan.data import hold_out
from michigan.train import RealismMonitor


class KeepLast(RealismMonitor):
    """The default monitor, keeping a copy of the last weights before it restores the best."""

    def on_train_end(self, trainer, plan):
        state = plan.module.sampling_generator.state_dict()
        self.last_state = {key: t.detach().clone() for key, t in state.items()}
        super().on_train_end(trainer, plan)


torch.set_num_threads(1)
out, seed, types = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
adata = mg.datasets.kang_pbmc("/work/shared/data/kang_pbmc_ifnb_scgen_valid.h5ad")
keys = ("cell_type", "condition", "control", "stimulated")
data = _log_normalised_hvgs(adata, "counts", 2000)
settings = _fold_settings(accelerator="cpu", seed=seed)
rows = []
for cell_type in types:
    start = time.time()
    train, held = hold_out(data, "cell_type", "condition", [(cell_type, "stimulated")])
    held_out = _held_out_type(train, held, cell_type, keys, 50, seed)
    request = _prediction_request(keys, cell_type, held.n_obs, seed)
    monitor = KeepLast()
    models = _fit_fold_models(train, ["MichiGAN"], settings, {"monitor": monitor})
    vae, gan = models["β-TCVAE"], models["MichiGAN"]
    predictions = {
        "β-TCVAE": _dense(vae.predict(**request, expression="sample").X),
        "MichiGAN best": _dense(gan.predict(**request).X),
    }
    gan.module.sampling_generator.load_state_dict(monitor.last_state)
    predictions["MichiGAN last"] = _dense(gan.predict(**request).X)
    for method, predicted in predictions.items():
        scores = score_prediction(predicted, held_out, seed=seed)
        rows.append(
            {
                "held_out": cell_type,
                "method": method,
                "seed": seed,
                "best_step": monitor.best_step,
                "last_step": monitor.distances[-1][0],
                **scores,
            }
        )
    pd.DataFrame(rows).to_csv(out, index=False)
    print(cell_type, f"{time.time() - start:.0f} s", monitor.distances, flush=True)
    print(pd.DataFrame(rows).tail(3)[["method", "r2_top100_de", "rf_error"]], flush=True)
