from ._prediction_step import PredictionStep
from ._tcvae_plan import TCVAETrainingPlan
from ._wgan_plan import WGANTrainingPlan, gradient_penalty

__all__ = [
    "PredictionStep",
    "TCVAETrainingPlan",
    "WGANTrainingPlan",
    "gradient_penalty",
]
