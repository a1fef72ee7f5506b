"""Non-neural baselines of the paper: probabilistic PCA and a Gaussian-mixture generator.

numpy and scikit-learn only; both fit in seconds and give the metrics a floor to beat.
"""

from __future__ import annotations

from ._gmm import GaussianMixtureGenerator
from ._ppca import PPCA

__all__ = ["PPCA", "GaussianMixtureGenerator"]
