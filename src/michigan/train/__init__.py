from ..module import gradient_penalty  # kept here for code written against 0.x
from ._checkpointing import CheckpointTrainer, CheckpointTrainRunner
from ._extrapolation_step import ExtrapolationStep
from ._gan_trainer import GANTrainer, GANTrainRunner, gan_strategy
from ._realism_monitor import (
    MONITOR_EVERY_N_STEPS,
    MONITOR_KEY,
    MONITOR_N_CELLS,
    MONITOR_N_PCS,
    RealismMonitor,
)
from ._tcvae_plan import TCVAETrainingPlan
from ._wgan_plan import (
    ADAM_BETAS,
    CRITIC_LEARNING_RATE,
    EMA_DECAY,
    GAN_LEARNING_RATE,
    GAN_MAX_EPOCHS,
    GAN_MAX_STEPS,
    GAN_MAX_TIME,
    GP_LAMBDA,
    N_CRITIC,
    PAPER_TRAINING,
    WGANTrainingPlan,
)

#: Former name of :class:`ExtrapolationStep`.
PredictionStep = ExtrapolationStep

__all__ = [
    "ADAM_BETAS",
    "CRITIC_LEARNING_RATE",
    "EMA_DECAY",
    "GAN_LEARNING_RATE",
    "GAN_MAX_EPOCHS",
    "GAN_MAX_STEPS",
    "GAN_MAX_TIME",
    "GP_LAMBDA",
    "MONITOR_EVERY_N_STEPS",
    "MONITOR_KEY",
    "MONITOR_N_CELLS",
    "MONITOR_N_PCS",
    "N_CRITIC",
    "PAPER_TRAINING",
    "CheckpointTrainRunner",
    "CheckpointTrainer",
    "ExtrapolationStep",
    "GANTrainRunner",
    "GANTrainer",
    "RealismMonitor",
    "TCVAETrainingPlan",
    "WGANTrainingPlan",
    "gan_strategy",
    "gradient_penalty",
]
