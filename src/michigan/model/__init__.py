from ._tcvae import TCVAE

__all__ = ["TCVAE"]
