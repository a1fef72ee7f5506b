"""MichiGAN for the scverse: disentangled representations and realistic generation of cells.

The package imports lazily (PEP 562): ``import michigan as mg`` is quick, and torch,
scvi-tools and scanpy load the first time a name that needs them is used (``mg.TCVAE``,
``mg.pl``, ...). That keeps ``michigan --help`` and the command line's input checks fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what static type checkers and IDEs see
    from . import (
        baselines,
        benchmark,
        data,
        datasets,
        metrics,
        model,
        module,
        pl,
        tl,
        train,
    )
    from .model import TCVAE, WGANGP, InfoWGANGP, MichiGAN

try:
    __version__ = version("michigan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

#: Models re-exported at the top level, each with the sub-package that defines it.
_MODELS = {"TCVAE": "model", "WGANGP": "model", "InfoWGANGP": "model", "MichiGAN": "model"}
#: Sub-packages reachable as attributes (``mg.pl``, ``mg.datasets``, ...).
_SUBPACKAGES = (
    "baselines",
    "benchmark",
    "data",
    "datasets",
    "metrics",
    "model",
    "module",
    "pl",
    "tl",
    "train",
)

__all__ = [
    "TCVAE",
    "WGANGP",
    "InfoWGANGP",
    "MichiGAN",
    "__version__",
    "baselines",
    "benchmark",
    "data",
    "datasets",
    "metrics",
    "model",
    "module",
    "pl",
    "tl",
    "train",
]


def __getattr__(name: str) -> Any:
    """Import a model or a sub-package the first time it is used."""
    if name in _MODELS:
        value = getattr(importlib.import_module(f".{_MODELS[name]}", __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
