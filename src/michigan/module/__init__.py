from ._gan import GAN_KEYS, GANModule, Generator, ProjectionCritic
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
    "GAN_KEYS",
    "MLP",
    "GANModule",
    "Generator",
    "KLDecomposition",
    "ProjectionCritic",
    "TCVAEModule",
    "decompose_kl",
    "log_aggregate_posterior",
    "mss_weight_matrix",
    "pairwise_log_density",
]
