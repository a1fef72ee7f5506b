"""Fully connected building blocks shared by the VAE and the GAN networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn

#: Normalisations of an :class:`MLP`'s hidden layers, as a type.
Normalization = Literal["batch", "layer", "none"]
#: Normalisations of an :class:`MLP`'s hidden layers (``normalization``).
NORMALIZATIONS = ("batch", "layer", "none")


def _normalization_layer(kind: Normalization, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalization {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")


class MLP(nn.Sequential):
    """Hidden layers of ``Linear → normalisation → LeakyReLU → Dropout``.

    Parameters
    ----------
    n_input
        Width of the input.
    n_hidden
        Width of each hidden layer, in order.
    dropout_rate
        Dropout after each activation (0 disables it).
    normalization
        ``"batch"`` (batch norm, the paper's choice), ``"layer"`` or ``"none"``.
    negative_slope
        Slope of the LeakyReLU for negative inputs (0.2 as in the paper's TensorFlow code;
        0 gives a ReLU).

    Examples
    --------
    >>> import torch
    >>> net = MLP(20, (64, 32))
    >>> net(torch.randn(8, 20)).shape
    torch.Size([8, 32])
    """

    def __init__(
        self,
        n_input: int,
        n_hidden: Sequence[int],
        dropout_rate: float = 0.2,
        normalization: Normalization = "batch",
        negative_slope: float = 0.2,
    ):
        layers: list[nn.Module] = []
        width = n_input
        for n_out in n_hidden:
            layers += [
                nn.Linear(width, n_out),
                _normalization_layer(normalization, n_out),
                nn.LeakyReLU(negative_slope),
            ]
            if dropout_rate > 0:
                layers.append(nn.Dropout(dropout_rate))
            width = n_out
        super().__init__(*layers)
        self.n_output = width
