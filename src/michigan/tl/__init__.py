"""Tools on codes, in the scanpy style: ``mg.tl.latent_arithmetic``."""

from ._latent_arithmetic import (
    PREDICTED_CODES_KEY,
    PREDICTION_UNS_KEY,
    ArithmeticPlan,
    LatentArithmetic,
    apply_plan,
    balanced_delta,
    latent_arithmetic,
    plan_arithmetic,
)

__all__ = [
    "PREDICTED_CODES_KEY",
    "PREDICTION_UNS_KEY",
    "ArithmeticPlan",
    "LatentArithmetic",
    "apply_plan",
    "balanced_delta",
    "latent_arithmetic",
    "plan_arithmetic",
]
