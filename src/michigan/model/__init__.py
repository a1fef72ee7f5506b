from ._generation import noise_blocks
from ._infowgan import InfoWGANGP
from ._latent_activity import LATENT_ACTIVITY_KEY, activity_from_uns, latent_activity_table
from ._michigan import MichiGAN
from ._tcvae import TCVAE, default_max_epochs
from ._wgan import WGANGP

__all__ = [
    "LATENT_ACTIVITY_KEY",
    "TCVAE",
    "WGANGP",
    "InfoWGANGP",
    "MichiGAN",
    "activity_from_uns",
    "default_max_epochs",
    "latent_activity_table",
    "noise_blocks",
]
