"""Which library size should a cell generated from a code be drawn at?

MichiGAN's count head draws each generated cell's counts at a library size ``L``. In training
``L`` is the library of the real cell whose code the generator is given. This script trains
one MichiGAN (package defaults, ``--steps`` generator steps) and scores, every ``--every``
steps, cells generated from the same codes of training cells with ``L``:

- ``drawn``: drawn from the training cells' libraries regardless of the code (what
  ``generate(codes=)`` did before: a monocyte's profile could get a T cell's depth);
- ``neighbours``: that of one of the 10 training cells nearest the code (``generate(codes=)``
  now);
- ``own``: the source cell's own (``generate(adata=)``, twins, as in training);

and ``sampled``: ``generate(n_samples=)`` (codes drawn from training cells, with neighbour
libraries). Metrics and protocol as ``bench_generation.py`` (reference half, equal cells a
side; the real-half floor is printed first).

Examples
--------
python benchmarks/bench_library_pairing.py kang --steps 2000 --every 500
python benchmarks/bench_library_pairing.py pbmc68k --steps 2400 --every 600
python benchmarks/bench_library_pairing.py kang --tag _wide \\
    --model-kwargs '{"critic_hidden": [1024, 512], "critic_dropout_rate": 0.0}'
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import bench_generation as bg
import bench_generation_curve as curve
import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan.model._generation import draw_library_sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=bg.DATASETS)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tcvae-epochs", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=bg.SHARED_DATA)
    parser.add_argument(
        "--model-kwargs", type=json.loads, default={}, help="JSON of extra model arguments"
    )
    parser.add_argument("--tag", default="", help="suffix of the CSV's name")
    parser.add_argument("--out", type=Path, default=Path("library_pairing"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    adata = bg.load(args.dataset, args.data_dir)
    if adata is None:
        return
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(adata.n_obs)
    reference, other = np.sort(order[: adata.n_obs // 2]), np.sort(order[adata.n_obs // 2 :])
    n_eval = min(len(reference), len(other))
    counts = bg._dense(adata.layers["counts"]).astype(np.float32)
    real = bg.log_normalize(counts[reference])
    train = AnnData(
        X=sparse.csr_matrix(counts), var=pd.DataFrame(index=adata.var_names.astype(str))
    )
    train.layers["counts"] = train.X.copy()
    source = np.sort(rng.choice(train.n_obs, n_eval, replace=False))
    floor = bg.score(real, bg.log_normalize(counts[other[:n_eval]]), args.seed)
    print(f"real half: frechet {floor['frechet']:.3g}, rf_error {floor['rf_error']:.3g}")

    tcvae = curve._train_tcvae(train, args)
    scvi.settings.seed = args.seed
    mg.MichiGAN.setup_anndata(train, layer="counts")
    model = mg.MichiGAN(train, representation=tcvae, **args.model_kwargs)
    snapshots = curve.GeneratorSnapshots(args.every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(
            max_steps=args.steps,
            max_time=None,
            accelerator="cpu",
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[snapshots],
        )
    codes = model.get_latent_representation()[source]
    drawn = draw_library_sizes(counts.sum(1), n_eval, np.random.default_rng([args.seed, 1]))
    protocols = {
        "drawn": lambda: model._generate_expression(codes, n_eval, args.seed, library=drawn),
        "neighbours": lambda: model.generate(codes=codes, seed=args.seed).X,
        "own": lambda: model.generate(adata=train[source], seed=args.seed).X,
        "sampled": lambda: model.generate(n_samples=n_eval, seed=args.seed).X,
    }
    rows = []
    for steps, _, state in snapshots.snapshots:
        model.module.sampling_generator.load_state_dict(state)
        for name, generate in protocols.items():
            metrics = bg.score(real, np.asarray(generate()), args.seed)
            row = {"dataset": args.dataset, "step": steps, "library": name} | metrics
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("step", "library", "frechet", "rf_error")}))
    rows.append({"dataset": args.dataset, "step": 0, "library": "real half"} | floor)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.dataset}_seed{args.seed}{args.tag}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
