"""Does MichiGAN put each generated Splatter cell in its source cell's state while it trains?

A diagnosis for the generation benchmark (docs/generation_benchmark.md): on Splatter the GAN
plateaus, then improves abruptly at a step that varies with the seed. This script trains
MichiGAN as ``bench_generation_curve.py`` does, keeps the sampling generator every
``--every`` generator steps, and for each copy generates one cell from the code of every cell
of the reference half. Each generated cell's nearest real cell of the *other* half (on 50
principal components of the real cells) should share the truth of the cell whose code made
it: the same batch, the same path (scored from step 6 on, where the two paths have parted) and
a nearby step. The ``real`` row does the same for the reference half's real cells themselves:
the agreement a perfect generator would reach; the ``code`` row matches the reference half to
the other half by their β-TCVAE codes instead: how much of the state the codes carry.

Example
-------
python benchmarks/splatter_conditioning_probe.py --seed 1 --steps 1800 --every 300
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import bench_generation as bg
import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from bench_generation_curve import GeneratorSnapshots, _train_tcvae
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

import michigan as mg

#: From this step on the two paths are told apart by their truth.
PARTED_FROM_STEP = 6


def agreement(nearest: pd.DataFrame, source: pd.DataFrame) -> dict[str, float]:
    """How often the nearest real cell shares the source cell's batch, path and step."""
    parted = source["step"].to_numpy() >= PARTED_FROM_STEP
    same_path = nearest["path"].to_numpy() == source["path"].to_numpy()
    return {
        "batch": float(np.mean(nearest["batch"].to_numpy() == source["batch"].to_numpy())),
        "path": float(np.mean(same_path[parted])),
        "step_error": float(np.mean(np.abs(nearest["step"].to_numpy() - source["step"]))),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--every", type=int, default=300)
    parser.add_argument("--tcvae-epochs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("results/splatter_conditioning"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    adata = bg.load("splatter_nonlinear", bg.SHARED_DATA)
    order = np.random.default_rng(args.seed).permutation(adata.n_obs)
    reference, other = np.sort(order[: adata.n_obs // 2]), np.sort(order[adata.n_obs // 2 :])
    counts = bg._dense(adata.layers["counts"]).astype(np.float32)
    expression = bg.log_normalize(counts)
    pca = PCA(50, random_state=0).fit(expression[reference])
    neighbours = NearestNeighbors(n_neighbors=1).fit(pca.transform(expression[other]))
    truth = adata.obs[["batch", "path", "step"]].reset_index(drop=True)
    source, candidates = truth.iloc[reference], truth.iloc[other].reset_index(drop=True)

    def nearest_truth(cells: np.ndarray) -> pd.DataFrame:
        index = neighbours.kneighbors(pca.transform(cells), return_distance=False)[:, 0]
        return candidates.iloc[index]

    train = AnnData(X=sparse.csr_matrix(counts), var=pd.DataFrame(index=adata.var_names))
    train.layers["counts"] = train.X.copy()
    tcvae = _train_tcvae(train, args)
    scvi.settings.seed = args.seed
    mg.MichiGAN.setup_anndata(train, layer="counts")
    model = mg.MichiGAN(train, representation=tcvae)
    snapshots = GeneratorSnapshots(args.every)
    bg._quiet(model, max_steps=args.steps, max_time=None, accelerator="cpu", callbacks=[snapshots])
    all_codes = model.get_latent_representation()
    codes = all_codes[reference]
    by_code = NearestNeighbors(n_neighbors=1).fit(all_codes[other])
    nearest_by_code = candidates.iloc[by_code.kneighbors(codes, return_distance=False)[:, 0]]
    rows = [
        {"step": "real"} | agreement(nearest_truth(expression[reference]), source),
        {"step": "code"} | agreement(nearest_by_code, source),
    ]
    generator = model.module.sampling_generator
    for step, _, state in snapshots.snapshots:
        generator.load_state_dict(state)
        cells = np.asarray(model.generate(codes=codes, seed=args.seed).X)
        rows.append({"step": step} | agreement(nearest_truth(cells), source))
        print(json.dumps(rows[-1]), flush=True)
    monitored = model.history["frechet_distance"].dropna().iloc[:, 0]
    print("monitor:", json.dumps([round(float(v), 2) for v in monitored]))
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / f"conditioning_seed{args.seed}.csv", index=False)
    print(table.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
