from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import michigan as mg

# Lightning's "ddp" strategy re-runs the launching script once per extra process, so the
# training runs in a script of its own (pytest cannot be re-run that way).
SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    import warnings

    import numpy as np
    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    import scvi
    from anndata import AnnData

    import michigan as mg

    out = sys.argv[1]
    scvi.settings.seed = 0
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.gamma(2.0, 2.0, size=(1, 12)), size=(96, 12)).astype(np.float32)
    adata = AnnData(counts)
    adata.obs_names = [f"cell-{i}" for i in range(96)]
    adata.var_names = [f"g{j}" for j in range(12)]
    mg.MichiGAN.setup_anndata(adata)
    model = mg.MichiGAN(
        adata,
        code_source="sample",
        tcvae_kwargs={"n_latent": 3, "n_hidden": (16,)},
        generator_hidden=(16,),
        critic_hidden=(16,),
        n_features=4,
    )
    model.train(
        max_epochs=2,
        max_epochs_tcvae=2,
        batch_size=16,
        n_critic=2,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        enable_progress_bar=False,
    )
    rank = model.trainer.global_rank
    parameters = {k: v.detach() for k, v in model.module.named_parameters()}
    torch.save(
        {"world_size": model.trainer.world_size, "gan": parameters},
        os.path.join(out, f"rank{rank}.pt"),
    )
    if rank == 0:
        model.save(os.path.join(out, "model"), save_anndata=True, overwrite=True)
    model.trainer.strategy.barrier()
    """
)


@pytest.mark.ddp
def test_ddp_trains_both_stages_on_two_processes(tmp_path: Path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    for key, value in ranks[0][
        "gan"
    ].items():  # DDP kept the weights in step (batch-norm statistics stay per process, as in DDP)
        torch.testing.assert_close(value, ranks[1]["gan"][key])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mg.MichiGAN.load(tmp_path / "model", accelerator="cpu")
        assert model.is_trained and model.tcvae.is_trained
        cells = model.generate(n_samples=10, seed=0)
    assert cells.shape == (10, 12) and np.isfinite(cells.X).all()


# The same two stages on a backed file: each process opens the file itself and reads its
# share of every epoch's minibatches from it.
BACKED_SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    import anndata
    import scvi

    import michigan as mg

    out, path = sys.argv[1], sys.argv[2]
    scvi.settings.seed = 0
    adata = anndata.read_h5ad(path, backed="r")
    mg.MichiGAN.setup_anndata(adata)
    model = mg.MichiGAN(
        adata,
        tcvae_kwargs={"n_latent": 3, "n_hidden": (16,)},
        generator_hidden=(16,),
        critic_hidden=(16,),
        n_features=4,
    )
    model.train(
        max_steps=4,
        max_epochs_tcvae=2,
        batch_size=50,
        n_critic=2,
        monitor=False,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        enable_progress_bar=False,
    )
    rank = model.trainer.global_rank
    store = model.trainer.datamodule._tensors["X"]
    torch.save(
        {
            "world_size": model.trainer.world_size,
            "store": type(store).__name__,
            "pid": os.getpid(),
            "file_opened_by": store._pid,
        },
        os.path.join(out, f"backed_rank{rank}.pt"),
    )
    if rank == 0:
        model.save(os.path.join(out, "backed_model"), overwrite=True)
    model.trainer.strategy.barrier()
    """
)


@pytest.mark.ddp
def test_ddp_trains_both_stages_on_a_backed_file(tmp_path: Path):
    import anndata

    from _helpers import clustered_counts

    path = tmp_path / "cells.h5ad"
    clustered_counts(n_cells=300, n_genes=50).write_h5ad(path)
    script = tmp_path / "train_ddp_backed.py"
    script.write_text(BACKED_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"backed_rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["store"] for r in ranks] == ["OnDiskMatrix", "OnDiskMatrix"]
    assert ranks[0]["pid"] != ranks[1]["pid"]  # two processes, each reading the file itself
    assert [r["file_opened_by"] for r in ranks] == [r["pid"] for r in ranks]

    backed = anndata.read_h5ad(path, backed="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mg.MichiGAN.load(tmp_path / "backed_model", adata=backed, accelerator="cpu")
        assert model.is_trained and model.tcvae.is_trained
        codes = model.get_latent_representation()
        cells = model.generate(n_samples=10, seed=0)
    assert codes.shape == (300, 3) and np.isfinite(codes).all()
    assert cells.shape == (10, 50) and np.isfinite(cells.X).all()
    backed.file.close()
