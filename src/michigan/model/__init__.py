from ._infowgan import InfoWGANGP
from ._michigan import MichiGAN
from ._tcvae import TCVAE
from ._wgan import WGANGP

__all__ = ["TCVAE", "WGANGP", "InfoWGANGP", "MichiGAN"]
