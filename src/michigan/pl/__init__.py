"""Plots in scanpy's habits: ``ax=`` to draw into, ``save=`` and ``show=``, axes returned.

- :func:`traversal` — generated cells of latent traversals on the real cells' UMAP (Fig. 5).
- :func:`latent_bars` — per-latent mutual information or correlation with each factor.
- :func:`latent_activity` — per-latent KL to the prior, collapsed latents marked.
- :func:`prediction_umap` — control, real and predicted cells on the UMAP (Fig. 6b).
- :func:`reg_mean` — mean expression, predicted against real, with R² (scGen's plot).
- :func:`reference_umap` — fit the real cells' UMAP once and reuse it across plots.

Everything draws with matplotlib and runs headless (the Agg backend).
"""

from __future__ import annotations

from ._bars import latent_bars
from ._embedding import ReferenceUMAP, reference_umap
from ._latent_activity import latent_activity
from ._prediction import prediction_umap, reg_mean
from ._traversal import traversal

__all__ = [
    "ReferenceUMAP",
    "latent_activity",
    "latent_bars",
    "prediction_umap",
    "reference_umap",
    "reg_mean",
    "traversal",
]
