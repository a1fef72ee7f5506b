from ._gan import CODE_SOURCES, GAN_KEYS, PAPER_NETWORKS, CodeSource, CriticLoss, GANModule
from ._gan_networks import (
    CRITIC_HIDDEN,
    GENERATOR_HIDDEN,
    N_FEATURES,
    OUTPUT_ACTIVATIONS,
    OUTPUT_HEADS,
    PROJECTIONS,
    ExpressionHead,
    Generator,
    LibrarySizeHead,
    ProjectionCritic,
    gradient_penalty,
)
from ._infogan import InfoCritic, InfoGANModule
from ._mlp import MLP, NORMALIZATIONS
from ._tc import (
    KLDecomposition,
    decompose_kl,
    log_aggregate_posterior,
    mss_weight_matrix,
    pairwise_log_density,
)
from ._tcvae import TCVAEModule

__all__ = [
    "CODE_SOURCES",
    "CRITIC_HIDDEN",
    "GAN_KEYS",
    "GENERATOR_HIDDEN",
    "MLP",
    "NORMALIZATIONS",
    "N_FEATURES",
    "OUTPUT_ACTIVATIONS",
    "OUTPUT_HEADS",
    "PAPER_NETWORKS",
    "PROJECTIONS",
    "CodeSource",
    "CriticLoss",
    "ExpressionHead",
    "GANModule",
    "Generator",
    "InfoCritic",
    "InfoGANModule",
    "KLDecomposition",
    "LibrarySizeHead",
    "ProjectionCritic",
    "TCVAEModule",
    "decompose_kl",
    "gradient_penalty",
    "log_aggregate_posterior",
    "mss_weight_matrix",
    "pairwise_log_density",
]
