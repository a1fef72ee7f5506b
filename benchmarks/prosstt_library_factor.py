"""Is PROSSTT's library size a factor of its own? Scores saved codes with either definition.

The simulator's ``library_size`` is the expected total count of a cell: the summed mean
expression of its point on the tree (set by branch and time) times an independent log-normal
``size_factor``. This prints how much ``library_size`` says about branch and time, then the
MIG of each saved run (``tcvae_seed_study.py --save-codes``) with ``library_size`` as the
third factor (the benchmark's) and with ``size_factor`` instead, PPCA's first::

    python benchmarks/prosstt_library_factor.py \
        benchmarks/results/tcvae_seeds/codes/prosstt_3_pkg_default_codes_seed*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import michigan as mg
from michigan.benchmark._methods import BenchmarkData, BenchmarkSettings, log_normalize, ppca
from michigan.metrics import largest_gaps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="prosstt_3")
    parser.add_argument("codes", type=Path, nargs="+", help="npz files with mean and var")
    args = parser.parse_args()
    spec, adata = mg.benchmark.load_preset(args.preset)
    obs = adata.obs
    trajectory = [name for name in spec.factors if name != "library_size"]
    libraries = obs[["library_size", "size_factor"]].to_numpy()
    shared = mg.metrics.mutual_info(libraries, obs[trajectory])
    shared.index = ["library_size", "size_factor"]
    print("Normalised MI I(library; factor) / H(factor) (20 quantile bins; time in quartiles):")
    print(shared.round(3).to_markdown())
    data = BenchmarkData(adata, log_normalize(adata.layers["counts"]), np.arange(10), spec.factors)
    baseline = ppca(data, BenchmarkSettings(seed=0))
    runs = {"PPCA": {"mean": baseline.codes, "var": baseline.posterior_var}}
    runs.update({path.stem: np.load(path) for path in args.codes})
    rows = []
    for name, saved in runs.items():
        row = {"run": name}
        for third in ("library_size", "size_factor"):
            factors = obs[[*trajectory, third]]
            information = mg.metrics.mutual_info(
                saved["mean"], factors, posterior_var=saved["var"], seed=0
            )
            gaps = largest_gaps(information)
            row[f"MIG with {third}"] = float(gaps.mean())
            row[f"gap {third}"] = float(gaps[third])
        rows.append(row)
    print(pd.DataFrame(rows).round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
