from ..module import gradient_penalty  # kept here for code written against 0.x
from ._extrapolation_step import ExtrapolationStep
from ._gan_trainer import GANTrainer, GANTrainRunner, gan_strategy
from ._tcvae_plan import TCVAETrainingPlan
from ._wgan_plan import (
    ADAM_BETAS,
    GAN_LEARNING_RATE,
    GAN_MAX_EPOCHS,
    GP_LAMBDA,
    N_CRITIC,
    WGANTrainingPlan,
)

#: Former name of :class:`ExtrapolationStep`.
PredictionStep = ExtrapolationStep

__all__ = [
    "ADAM_BETAS",
    "GAN_LEARNING_RATE",
    "GAN_MAX_EPOCHS",
    "GP_LAMBDA",
    "N_CRITIC",
    "ExtrapolationStep",
    "GANTrainRunner",
    "GANTrainer",
    "TCVAETrainingPlan",
    "WGANTrainingPlan",
    "gan_strategy",
    "gradient_penalty",
]
