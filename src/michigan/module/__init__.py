from ._mlp import MLP
from ._tc import (
    KLDecomposition,
    decompose_kl,
    log_aggregate_posterior,
    mss_weight_matrix,
    pairwise_log_density,
)
from ._tcvae import TCVAEModule

__all__ = [
    "MLP",
    "KLDecomposition",
    "TCVAEModule",
    "decompose_kl",
    "log_aggregate_posterior",
    "mss_weight_matrix",
    "pairwise_log_density",
]
