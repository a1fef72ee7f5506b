"""Metrics of disentanglement, generation quality and latent-space arithmetic.

Every metric takes arrays or an AnnData plus keys, accepts sparse expression without
densifying it whole, is seeded by ``seed=`` and stays memory-bounded on large inputs.
"""

from __future__ import annotations

from ._arithmetic import latent_entropy_delta
from ._coverage import label_coverage
from ._disentanglement import (
    factorvae_score,
    knn_factor_prediction,
    mig,
    spearman_correlation,
    spearman_gap,
)
from ._generation import frechet_distance, gene_fidelity, inception_score, rf_error
from ._mutual_info import mutual_info
from ._precision_recall import PrecisionRecall, knn_precision_recall
from ._prediction import evaluate_prediction, mean_expression, r2_of_means, top_de_genes
from ._utils import fit_pca, largest_gaps

__all__ = [
    "PrecisionRecall",
    "evaluate_prediction",
    "factorvae_score",
    "fit_pca",
    "frechet_distance",
    "gene_fidelity",
    "inception_score",
    "knn_factor_prediction",
    "knn_precision_recall",
    "label_coverage",
    "largest_gaps",
    "latent_entropy_delta",
    "mean_expression",
    "mig",
    "mutual_info",
    "r2_of_means",
    "rf_error",
    "spearman_correlation",
    "spearman_gap",
    "top_de_genes",
]
