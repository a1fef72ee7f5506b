"""MichiGAN for the scverse: disentangled representations and realistic generation of cells."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import baselines, benchmark, datasets, metrics, pl, tl
from .model import TCVAE, WGANGP, InfoWGANGP, MichiGAN

try:
    __version__ = version("michigan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "TCVAE",
    "WGANGP",
    "InfoWGANGP",
    "MichiGAN",
    "__version__",
    "baselines",
    "benchmark",
    "datasets",
    "metrics",
    "pl",
    "tl",
]
