from ._gan import CODE_SOURCES, GAN_KEYS, CodeSource, CriticLoss, GANModule
from ._gan_networks import (
    CRITIC_HIDDEN,
    GENERATOR_HIDDEN,
    N_FEATURES,
    OUTPUT_ACTIVATIONS,
    PROJECTIONS,
    ExpressionHead,
    Generator,
    ProjectionCritic,
    gradient_penalty,
)
from ._infogan import InfoCritic, InfoGANModule
from ._mlp import MLP, NORMALIZATIONS
from ._tc import (
    TC_ESTIMATORS,
    KLDecomposition,
    TcEstimator,
    decompose_kl,
    log_aggregate_posterior,
    mss_weight_matrix,
    pairwise_log_density,
)
from ._tcvae import COUNT_LIKELIHOODS, GENE_LIKELIHOODS, GeneLikelihood, TCVAEModule

__all__ = [
    "CODE_SOURCES",
    "COUNT_LIKELIHOODS",
    "CRITIC_HIDDEN",
    "GAN_KEYS",
    "GENERATOR_HIDDEN",
    "GENE_LIKELIHOODS",
    "MLP",
    "NORMALIZATIONS",
    "N_FEATURES",
    "OUTPUT_ACTIVATIONS",
    "PROJECTIONS",
    "TC_ESTIMATORS",
    "CodeSource",
    "CriticLoss",
    "ExpressionHead",
    "GANModule",
    "GeneLikelihood",
    "Generator",
    "InfoCritic",
    "InfoGANModule",
    "KLDecomposition",
    "ProjectionCritic",
    "TCVAEModule",
    "TcEstimator",
    "decompose_kl",
    "gradient_penalty",
    "log_aggregate_posterior",
    "mss_weight_matrix",
    "pairwise_log_density",
]
