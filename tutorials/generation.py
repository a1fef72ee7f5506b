# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/michigan-scverse/michigan/blob/main/tutorials/generation.ipynb)
#
# # Generation and latent traversals
#
# MichiGAN generates cells from codes. This notebook checks two things:
#
# - **Are the generated cells realistic?** We compare them with real cells by eye (a
#   shared UMAP) and with three metrics: the random-forest error, the Fréchet distance and
#   per-gene agreement.
# - **Do the codes keep their meaning?** A latent traversal changes one latent variable
#   and generates a cell at each value. When that latent follows a differentiation path,
#   the generated cells should move along the path.
#
# The data are simulated with Splatter, so each cell's true position on its path is known.

# %%
# On Colab, install michigan from its repository (elsewhere, install it as the README says).
import sys

if "google.colab" in sys.modules:
    # %pip install --quiet git+https://github.com/michigan-scverse/michigan
    print("michigan installed from its repository")

# %% [markdown]
# **Settings.** With a GPU we use the paper's sizes: 10,000 cells × 2,000 genes and 1000
# epochs per stage. On a CPU everything is smaller. `MICHIGAN_TUTORIAL_QUICK=1` (used by
# the test suite) shrinks it further; its cells are far from realistic, and a PCA stands in
# for the UMAP (whose first run compiles for about a minute).

# %%
import logging
import os
import warnings

import torch

# Keep the page readable: hide known-harmless warnings (and Lightning's banners, below).
for message in ("IProgress not found", "LeafSpec", "many workers", "log_every_n_steps", "n_jobs"):
    warnings.filterwarnings("ignore", message=f".*{message}.*")

QUICK = os.environ.get("MICHIGAN_TUTORIAL_QUICK") == "1"
if torch.cuda.is_available():
    ACCELERATOR, N_CELLS, N_GENES, EPOCHS_TCVAE, EPOCHS_GAN = "gpu", 10_000, 2_000, 1000, 1000
elif QUICK:
    ACCELERATOR, N_CELLS, N_GENES, EPOCHS_TCVAE, EPOCHS_GAN = "cpu", 500, 200, 10, 3
else:
    ACCELERATOR, N_CELLS, N_GENES, EPOCHS_TCVAE, EPOCHS_GAN = "cpu", 2_000, 500, 100, 60
TRAIN_KWARGS = {"accelerator": ACCELERATOR, "enable_progress_bar": False}
print(
    f"accelerator={ACCELERATOR}, {N_CELLS} cells × {N_GENES} genes, "
    f"{EPOCHS_TCVAE} β-TCVAE and {EPOCHS_GAN} GAN epochs"
)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc
import scvi
from sklearn.decomposition import PCA

import michigan as mg

logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

scvi.settings.seed = 0
started = time.time()

# %% [markdown]
# ## Data and model
#
# Here MichiGAN trains its own β-TCVAE (`tcvae_kwargs`) and then the GAN, in a single
# `train()` call.

# %%
adata = mg.datasets.splatter_paths(n_cells=N_CELLS, n_genes=N_GENES, preset="linear", seed=0)
FACTORS = ["batch", "path", "step", "library_size"]

mg.MichiGAN.setup_anndata(adata, layer="counts")
model = mg.MichiGAN(adata, code_source="sample", tcvae_kwargs={"n_latent": 10, "beta": 10})
model.train(max_epochs=EPOCHS_GAN, max_epochs_tcvae=EPOCHS_TCVAE, **TRAIN_KWARGS)
adata.obsm["X_michigan"] = model.get_latent_representation()
print(f"trained in {time.time() - started:.0f} s")

# %% [markdown]
# The GAN generates log-normalised expression, `log1p(1e4 · counts / total)`. The real
# cells are put in the same space before we compare them.

# %%
real = adata.copy()
real.X = real.layers["counts"].copy()
sc.pp.normalize_total(real, target_sum=1e4)
sc.pp.log1p(real)

# %% [markdown]
# ## Real against generated
#
# First, one generated cell per real cell, each from that cell's code (`adata=`). We fit a
# UMAP on the real cells and place the generated cells on it.

# %%
twins = model.generate(adata=adata, seed=0)
reference = mg.pl.reference_umap(real, seed=0, reducer=PCA(n_components=2) if QUICK else None)
real_xy, generated_xy = reference.coordinates_of(real), reference.transform(twins)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
for ax, xy, title in [(axes[0], real_xy, "real cells"), (axes[1], generated_xy, "generated")]:
    ax.scatter(real_xy[:, 0], real_xy[:, 1], s=3, c="lightgrey")
    points = ax.scatter(xy[:, 0], xy[:, 1], s=4, c=adata.obs["step"], cmap="viridis")
    ax.set(title=f"{title}, coloured by the real cell's step", xlabel="UMAP 1", ylabel="UMAP 2")
fig.colorbar(points, ax=axes, label="step of the (source) cell")
# %% [markdown]
# ## The realism metrics
#
# Each metric needs something to compare it with, so we also score two random halves of
# the real cells against each other. That is the value of a perfect generator at this
# number of cells.
#
# - **RF error**: the cross-validated error of a random forest that tells real from
#   generated cells. 0.5 means it cannot tell them apart; 0 means it always can.
# - **Fréchet distance**: the distance between the means and covariances of the two sets
#   on shared principal components. 0 for identical distributions; lower is better.
# - **Gene fidelity**: the correlation across genes of the per-gene means, standard
#   deviations and zero fractions.

# %%
rng = np.random.default_rng(0)
order = rng.permutation(real.n_obs)
half_a, half_b = real[order[: real.n_obs // 2]], real[order[real.n_obs // 2 :]]
generated = model.generate(n_samples=half_b.n_obs, seed=1)  # codes drawn from training cells


def realism(reference_cells, cells) -> dict[str, float]:
    fidelity = mg.metrics.gene_fidelity(reference_cells, cells)
    return {
        "RF error (0.5 best)": mg.metrics.rf_error(reference_cells, cells, seed=0),
        "Fréchet distance (0 best)": mg.metrics.frechet_distance(reference_cells, cells, seed=0),
        "gene means, Pearson r": fidelity.loc["mean", "pearson_r"],
        "gene SDs, Pearson r": fidelity.loc["sd", "pearson_r"],
        "zero fractions, MAE": fidelity.loc["zero_fraction", "mae"],
    }


metrics = pd.DataFrame(
    {
        "real half vs real half": realism(half_a, half_b),
        "real half vs MichiGAN": realism(half_a, generated),
    }
)
metrics.round(3)

# %% [markdown]
# How to read it: a generator close to the real data has an RF error near the real-vs-real
# value and a Fréchet distance of the same order. Gene means usually agree well before the
# cells become hard to tell apart. The random forest sees joint patterns, such as which
# genes are on together, that per-gene statistics miss. Short CPU training leaves a clear
# gap. Longer training (the GPU settings) narrows it.
#
# Per gene, the means of generated against real cells:

# %%
_, per_gene = mg.metrics.gene_fidelity(half_a, generated, return_per_gene=True)
per_gene.head()

# %%
fig, ax = plt.subplots(figsize=(4.2, 4))
ax.scatter(per_gene["real_mean"], per_gene["generated_mean"], s=5)
top = float(per_gene[["real_mean", "generated_mean"]].max().max())
ax.plot([0, top], [0, top], color="grey", lw=1)
ax.set(
    xlabel="mean log expression, real",
    ylabel="mean log expression, generated",
    title="per-gene means",
)
# %% [markdown]
# ## Counts
#
# MichiGAN's generator draws each cell as sequencing draws a real one: it gives the cell's
# expected profile, and the cell's counts are drawn from a negative binomial at a library size
# taken from the training cells (the *count head*, see the MichiGAN page of the docs).
# `.X` holds those counts log-normalised; `counts=True` also returns the counts themselves,
# ready for `sc.pp.normalize_total` and `sc.pp.log1p` like real counts.

# %%
with_counts = model.generate(n_samples=half_b.n_obs, seed=1, counts=True)
counts = with_counts.layers["counts"]
library = np.asarray(counts.sum(axis=1)).ravel()
real_library = np.asarray(adata.layers["counts"].sum(axis=1)).ravel()
print(
    f"generated library sizes: median {np.median(library):.0f} "
    f"(real: {np.median(real_library):.0f})"
)
real_counts = adata.layers["counts"]
real_zeros = 1 - (real_counts != 0).sum() / np.prod(real_counts.shape)
print(f"zeros: generated {(counts == 0).mean():.3f}, real {real_zeros:.3f}")
assert np.allclose(with_counts.X, generated.X)  # the same cells, with their counts

# %% [markdown]
# ## Latent traversals
#
# Which latent follows the steps of the paths? The latent with the largest absolute
# Spearman correlation with the step:

# %%
rho = mg.metrics.spearman_correlation(adata.obsm["X_michigan"], adata.obs[FACTORS])
step_latent = int(rho["step"].abs().to_numpy().argmax())
print(f"latent_{step_latent} follows the step (ρ = {rho['step'].iloc[step_latent]:.2f})")
rho.round(2)

# %% [markdown]
# We start from a cell at an early step, traverse that latent and a latent that follows
# none of the factors, and generate 5 cells per value. The generated cells have no ground
# truth, so we predict their step from their 3 nearest real cells. This is the paper's
# kNN check.

# %%
start = int(np.argmin(adata.obs["step"].to_numpy()))
quiet_latent = int(rho.abs().max(axis=1).to_numpy().argmin())
traversals = {
    f"latent_{dim}": model.traverse(cell=start, dim=dim, n_steps=20, n_samples_per_step=5, seed=0)
    for dim in (step_latent, quiet_latent)
}
mg.pl.traversal(real, traversals, embedding=reference, ncols=2, show=False)
# %%
fig, ax = plt.subplots(figsize=(5, 3.8))
for name, cells in traversals.items():
    predicted = mg.metrics.knn_factor_prediction(real, cells, adata.obs[["step"]], seed=0)
    means = (
        pd.Series(predicted["step"].to_numpy())
        .groupby(cells.obs["traversal_value"].to_numpy())
        .mean()
    )
    ax.plot(means.index, means.to_numpy(), marker="o", label=f"traversing {name}")
ax.set(
    xlabel="value of the traversed latent",
    ylabel="predicted step (kNN)",
    title="Does the traversal move along the path?",
)
ax.legend()
print(f"notebook ran in {time.time() - started:.0f} s")
