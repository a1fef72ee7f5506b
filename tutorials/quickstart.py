# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/michigan-scverse/michigan/blob/main/tutorials/quickstart.ipynb)
#
# # Quickstart: MichiGAN on 700 PBMCs
#
# MichiGAN works in two stages. A **β-TCVAE** learns a disentangled representation of
# the cells: a few latent variables, each one ideally capturing one source of variation.
# A **conditional Wasserstein GAN** then learns to generate realistic cells from those
# codes. This notebook goes through the whole workflow on scanpy's 700-cell
# `pbmc68k_reduced`:
#
# 1. set up the data and train the β-TCVAE, then MichiGAN on its codes;
# 2. store the codes in `.obsm` and draw a UMAP of each representation;
# 3. generate cells and traverse a latent variable;
# 4. save and reload the model.

# %%
# On Colab, install michigan from its repository (elsewhere, install it as the README says).
import sys

if "google.colab" in sys.modules:
    # %pip install --quiet git+https://github.com/michigan-scverse/michigan
    print("michigan installed from its repository")

# %% [markdown]
# **Settings.** With a GPU the models train as long as in the paper (1000 epochs). On a
# CPU they train for a few minutes. `MICHIGAN_TUTORIAL_QUICK=1` shrinks the run further;
# the test suite uses it to check that the notebook runs. It also draws the first two
# principal components where the notebook draws UMAPs, since the first UMAP of a session
# spends about a minute compiling.

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
    ACCELERATOR, EPOCHS_TCVAE, EPOCHS_GAN = "gpu", 1000, 1000  # the paper's
elif QUICK:
    ACCELERATOR, EPOCHS_TCVAE, EPOCHS_GAN = "cpu", 10, 3
else:
    ACCELERATOR, EPOCHS_TCVAE, EPOCHS_GAN = "cpu", 200, 100
# Progress bars are off so that this page stays short; drop the argument to see them.
TRAIN_KWARGS = {"accelerator": ACCELERATOR, "enable_progress_bar": False}
print(f"accelerator={ACCELERATOR}, β-TCVAE epochs={EPOCHS_TCVAE}, GAN epochs={EPOCHS_GAN}")

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import scanpy as sc
import scvi
from sklearn.decomposition import PCA

import michigan as mg

logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

scvi.settings.seed = 0
started = time.time()

# %% [markdown]
# ## The data
#
# `mg.datasets.pbmc68k()` returns the 700 PBMCs × 765 genes of scanpy's `pbmc68k_reduced`
# with their integer counts in `.X` and `.layers["counts"]`. Both models learn from the
# counts.

# %%
adata = mg.datasets.pbmc68k()
adata

# %% [markdown]
# ## Stage 1: the β-TCVAE
#
# `setup_anndata` registers the counts layer. `beta` weighs the total correlation of the
# latents: the larger it is, the more independent the latent variables are pushed to be.
# The paper used 10 latents and `beta=10`.

# %%
mg.TCVAE.setup_anndata(adata, layer="counts")
tcvae = mg.TCVAE(adata, n_latent=10, beta=10)
tcvae.train(max_epochs=EPOCHS_TCVAE, **TRAIN_KWARGS)
adata.obsm["X_tcvae"] = tcvae.get_latent_representation()
tcvae

# %% [markdown]
# ## Stage 2: MichiGAN on the β-TCVAE's codes
#
# MichiGAN takes the trained β-TCVAE as its representation and keeps it frozen. With
# `code_source="sample"`, each minibatch conditions the generator on a new draw from every
# cell's posterior; the paper found this predicts better than posterior means. The GAN
# learns log-normalised expression, `log1p(1e4 · counts / total)`, computed from the
# registered counts.

# %%
mg.MichiGAN.setup_anndata(adata, layer="counts")
model = mg.MichiGAN(adata, representation=tcvae, code_source="sample")
model.train(max_epochs=EPOCHS_GAN, **TRAIN_KWARGS)
adata.obsm["X_michigan"] = model.get_latent_representation()
model

# %% [markdown]
# The critic's estimate of the Wasserstein distance between real and generated cells is
# logged once per epoch:

# %%
model.history["wasserstein_train"].plot(
    legend=False, xlabel="epoch", ylabel="Wasserstein estimate"
)
# %% [markdown]
# ## A UMAP of each representation
#
# The codes are ordinary `.obsm` matrices, so scanpy's neighbour graph and UMAP work on
# them directly. The two UMAPs below are of different spaces: the log-normalised
# expression (through PCA) and the β-TCVAE's 10 latents.

# %%
sc.pp.normalize_total(adata, target_sum=1e4)  # .X is now the space the GAN learns
sc.pp.log1p(adata)
sc.pp.pca(adata, n_comps=30)
representations = {"X_pca": "expression (PCA)", "X_tcvae": "β-TCVAE latents"}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (key, title) in zip(axes, representations.items(), strict=True):
    if QUICK:  # two principal components stand in for the UMAP
        adata.obsm[f"X_umap_{key}"] = sc.pp.pca(adata.obsm[key], n_comps=2)
    else:
        sc.pp.neighbors(adata, use_rep=key, key_added=key)
        sc.tl.umap(adata, neighbors_key=key, random_state=0)
        adata.obsm[f"X_umap_{key}"] = adata.obsm["X_umap"].copy()
    sc.pl.embedding(
        adata,
        basis=f"X_umap_{key}",
        color="bulk_labels",
        ax=ax,
        show=False,
        title=f"UMAP of the {title}",
        legend_loc="on data",
        legend_fontsize=7,
    )
fig.tight_layout()

# %% [markdown]
# Coloured by each latent variable, the β-TCVAE's UMAP shows which latents follow which
# cells. Latents whose values hardly vary are unused (collapsed): the β-TCVAE turns off
# latents the data do not need.

# %%
for j in range(adata.obsm["X_tcvae"].shape[1]):
    adata.obs[f"latent_{j}"] = adata.obsm["X_tcvae"][:, j]
sc.pl.embedding(
    adata,
    basis="X_umap_X_tcvae",
    color=[f"latent_{j}" for j in range(10)],
    ncols=5,
    cmap="coolwarm",
    frameon=False,
    show=False,
)
spread = adata.obsm["X_tcvae"].std(axis=0)
print("standard deviation of each latent:", np.round(spread, 2))

# %% [markdown]
# ## Generate cells
#
# `generate` without codes draws codes from the training cells and returns a new AnnData:
# the generated log-normalised expression in `.X`, the codes in `.obsm["X_michigan"]`, and
# where each cell came from in `.obs`.

# %%
generated = model.generate(n_samples=adata.n_obs, seed=0)
generated

# %% [markdown]
# Are the generated cells realistic? A random forest tries to tell them from real cells;
# its error is 0.5 when it cannot (the ideal) and 0 when it always can. Short CPU training
# leaves the GAN far from 0.5; the generation tutorial (`generation.ipynb`) looks at this
# in detail.

# %%
print(f"RF error: {mg.metrics.rf_error(adata, generated, seed=0):.3f}")

# %% [markdown]
# ## Traverse a latent variable
#
# A traversal starts from one cell's code, moves a single latent from its 5th to its 95th
# percentile, and generates a cell at each step. The generated cells are placed on the
# UMAP of the real cells. We traverse the two latents that vary most.

# %%
# In quick mode a PCA stands in for the UMAP (any reducer with fit_transform and transform).
reference = mg.pl.reference_umap(adata, seed=0, reducer=PCA(n_components=2) if QUICK else None)
most_used = np.argsort(spread)[::-1][:2]
traversals = {
    f"latent_{j}": model.traverse(cell=0, dim=int(j), n_steps=30, seed=0) for j in most_used
}
mg.pl.traversal(adata, traversals, embedding=reference, ncols=2, show=False)
# %% [markdown]
# ## Save and load
#
# `save` writes MichiGAN and its β-TCVAE (in a `tcvae/` subfolder); `load` restores both.
# With the same seed, the reloaded model generates the same cells.

# %%
model.save("pbmc_michigan/", overwrite=True)
reloaded = mg.MichiGAN.load("pbmc_michigan/", adata=adata)
again = reloaded.generate(n_samples=adata.n_obs, seed=0)
same_cells = bool(np.allclose(again.X, generated.X, atol=1e-5))
print(f"reloaded model generates the same cells: {same_cells}")
print(f"notebook ran in {time.time() - started:.0f} s")
