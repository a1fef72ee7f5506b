"""Markdown tables of ``tcvae_seed_study.py`` output: per seed and mean ± SD per variant.

python benchmarks/tcvae_seed_table.py benchmarks/results/tcvae_seeds/screen.jsonl [more.jsonl]

PPCA's MIG is taken from any row of the same preset, size and seed (it does not depend on
the variant). "MIG without library size" is the mean gap over the other factors, for reference:
the headline MIG scores library size too, as the paper does.
"""

from __future__ import annotations

import sys

import pandas as pd

rows = pd.concat([pd.read_json(path, lines=True) for path in sys.argv[1:]], ignore_index=True)
size = ["preset", "n_cells", "n_genes"]
ppca = rows.dropna(subset=["ppca_mig"]).groupby([*size, "seed"])["ppca_mig"].first()
for (preset, variant), group in rows.groupby(["preset", "variant"], sort=False):
    group = group.sort_values("seed").dropna(axis=1, how="all")
    keys = zip(group["preset"], group["n_cells"], group["n_genes"], group["seed"], strict=True)
    group = group.assign(ppca_mig=[ppca.get(key, float("nan")) for key in keys])
    gaps = [c for c in group.columns if c.startswith("gap_") and c != "gap_library_size"]
    # the MIG of the factors other than library size, which the NB decoder is given
    group = group.assign(mig_without_library=group[gaps].mean(axis=1))
    columns = ["mig", "ppca_mig", "spearman_gap", *gaps, "mig_without_library"]
    names = ["MIG", "PPCA MIG", "Spearman gap", *(c.replace("_", " ") for c in gaps)]
    names.append("MIG without library size")
    print(f"\n{preset}, {variant}:\n")
    print("| seed | " + " | ".join(names) + " | TC (nats) |")
    print("|---|" + "---|" * (len(names) + 1))
    for _, row in group.iterrows():
        values = " | ".join(f"{row[c]:.3f}" for c in columns)
        print(f"| {row['seed']} | {values} | {row['total_correlation_train']:.3f} |")
    if len(group) > 1:
        stats = " | ".join(f"{group[c].mean():.3f} ± {group[c].std():.3f}" for c in columns)
        print(f"| mean ± SD | {stats} | |")
