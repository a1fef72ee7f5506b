"""The networks of the conditional Wasserstein GAN: generator, projection critic, and the pair."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from scvi import REGISTRY_KEYS
from torch import nn

from ._mlp import MLP, NORMALIZATIONS, Normalization

OutputActivation = Literal["relu", "softplus"] | None
OUTPUT_ACTIVATIONS = ("relu", "softplus", None)
Projection = Literal["learned", "identity"]
PROJECTIONS = ("learned", "identity")
CodeSource = Literal["mean", "sample"]
CODE_SOURCES = ("mean", "sample")

#: Generator widths of the paper: ``[code, noise] → 256 → 512 → 1024 → genes``.
GENERATOR_HIDDEN = (256, 512, 1024)
#: Critic widths of the paper: ``x → 1024 → 512 → h``.
CRITIC_HIDDEN = (1024, 512)
#: Width of the critic's last feature layer ``h`` (10 in the paper).
N_FEATURES = 10


class _GANKeys(NamedTuple):
    EXPRESSION: str = "gan_expression"
    CODE_LOC: str = "code_loc"
    CODE_SCALE: str = "code_scale"


#: Keys of the per-cell tensors the GAN reads from a minibatch, besides scvi's ``"X"``.
GAN_KEYS = _GANKeys()


class Generator(nn.Module):
    """Maps a code and noise to an expression profile.

    ``[code, noise] → hidden layers → genes``, every hidden layer ``Linear → normalisation →
    LeakyReLU → Dropout`` (:class:`~michigan.module.MLP`).

    Parameters
    ----------
    n_code
        Width of the code (0 for an unconditional generator).
    n_noise
        Width of the noise.
    n_output
        Number of genes.
    n_hidden
        Widths of the hidden layers (the paper's ``(256, 512, 1024)`` by default).
    dropout_rate
        Dropout after each hidden layer.
    normalization
        ``"batch"`` (the paper's), ``"layer"`` or ``"none"``.
    negative_slope
        Slope of the LeakyReLU.
    output_activation
        ``"relu"`` or ``"softplus"`` keep the output non-negative (as log-normalised expression
        is); ``None`` leaves it linear (for data with negative values, e.g. scaled expression).

    Examples
    --------
    >>> generator = Generator(n_code=10, n_noise=118, n_output=2000)
    >>> generator(torch.randn(4, 10), torch.randn(4, 118)).shape
    torch.Size([4, 2000])
    """

    def __init__(
        self,
        n_code: int,
        n_noise: int,
        n_output: int,
        n_hidden: Sequence[int] = GENERATOR_HIDDEN,
        dropout_rate: float = 0.2,
        normalization: Normalization = "batch",
        negative_slope: float = 0.2,
        output_activation: OutputActivation = "relu",
    ):
        super().__init__()
        if n_code + n_noise < 1:
            raise ValueError("the generator needs an input: n_code + n_noise must be at least 1")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"unknown output_activation {output_activation!r}; choose 'relu', 'softplus' "
                "or None"
            )
        self.n_code, self.n_noise, self.n_output = n_code, n_noise, n_output
        self.hidden = MLP(n_code + n_noise, n_hidden, dropout_rate, normalization, negative_slope)
        self.output = nn.Linear(self.hidden.n_output, n_output)
        self.output_activation = {
            "relu": nn.ReLU(),
            "softplus": nn.Softplus(),
            None: nn.Identity(),
        }[output_activation]

    def forward(self, code: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """Expression profiles of shape ``(n, n_output)`` for codes and noise of ``n`` cells."""
        inputs = noise if code is None or self.n_code == 0 else torch.cat([code, noise], dim=-1)
        return self.output_activation(self.output(self.hidden(inputs)))


class ProjectionCritic(nn.Module):
    """Scores pairs of an expression profile and a code: the projection critic.

    ``h = φ(x)`` maps a cell through hidden layers to ``n_features`` features and

    ``D(x, z) = wᵀh + b + (V z)ᵀ h``

    (Miyato & Koyama, 2018): the code enters only through the projection term ``(V z)ᵀ h``.
    ``V`` is learned (``projection="learned"``) or the identity (``"identity"``, the MichiGAN
    code's choice, which needs ``n_features == n_code``). With ``n_code = 0`` the critic is
    unconditional, ``D(x) = wᵀh + b``.

    Parameters
    ----------
    n_input
        Number of genes.
    n_code
        Width of the code (0 for an unconditional critic).
    n_hidden
        Widths of the hidden layers (the paper's ``(1024, 512)`` by default).
    n_features
        Width of ``h`` (10 in the paper); defaults to 10, or to ``n_code`` for the identity
        projection.
    projection
        ``"learned"`` or ``"identity"``.
    normalization
        ``"layer"`` (default), ``"none"``, or ``"batch"`` (the paper's; it makes a cell's score
        depend on the rest of its minibatch, which breaks the per-sample gradient penalty).
    dropout_rate
        Dropout after each hidden layer.
    negative_slope
        Slope of the LeakyReLU.

    Examples
    --------
    >>> critic = ProjectionCritic(n_input=2000, n_code=10)
    >>> critic(torch.randn(4, 2000), torch.randn(4, 10)).shape
    torch.Size([4])
    """

    def __init__(
        self,
        n_input: int,
        n_code: int = 0,
        n_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        projection: Projection = "learned",
        normalization: Normalization = "layer",
        dropout_rate: float = 0.0,
        negative_slope: float = 0.2,
    ):
        super().__init__()
        if projection not in PROJECTIONS:
            raise ValueError(
                f"unknown projection {projection!r}; choose one of {', '.join(PROJECTIONS)}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown critic normalization {normalization!r}; choose one of "
                f"{', '.join(NORMALIZATIONS)}"
            )
        identity = projection == "identity" and n_code > 0
        if n_features is None:
            n_features = n_code if identity else N_FEATURES
        if identity and n_features != n_code:
            raise ValueError(
                f"projection='identity' ties the critic's feature width to the code: got "
                f"n_features={n_features} and n_code={n_code}; pass n_features=None (or "
                f"{n_code}), or projection='learned'"
            )
        if normalization == "batch":
            warnings.warn(
                "batch norm in the critic makes each cell's score depend on its minibatch, "
                "which breaks the per-sample gradient penalty; normalization='layer' or 'none' "
                "is the usual fix",
                UserWarning,
                stacklevel=2,
            )
        self.n_input, self.n_code, self.n_features = n_input, n_code, n_features
        self.projection = projection
        self.per_sample = normalization != "batch"
        self.body = MLP(n_input, n_hidden, dropout_rate, normalization, negative_slope)
        self.features = nn.Sequential(
            nn.Linear(self.body.n_output, n_features), nn.LeakyReLU(negative_slope)
        )
        self.linear = nn.Linear(n_features, 1)
        self.embedding = (
            nn.Linear(n_code, n_features, bias=False)
            if n_code > 0 and projection == "learned"
            else None
        )

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The features ``h = φ(x)``, of shape ``(n, n_features)``."""
        return self.features(self.body(x))

    def projection_term(self, h: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """``(V z)ᵀ h`` per cell, of shape ``(n,)``."""
        projected = code if self.embedding is None else self.embedding(code)
        return (projected * h).sum(-1)

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``D(x, z)`` of shape ``(n,)``."""
        h = self.feature_map(x)
        score = self.linear(h).squeeze(-1)
        if self.n_code > 0:
            if code is None:
                raise ValueError("this critic is conditional: pass the code of every cell")
            score = score + self.projection_term(h, code)
        return score


class GANModule(nn.Module):
    """Generator and critic of a (conditional) Wasserstein GAN, and the data they learn.

    The module also turns a minibatch into the pair ``(x, z)`` the GAN trains on
    (:meth:`get_data_and_code`): ``x`` is the registered matrix, log-normalised per minibatch
    (``log1p(target_sum · x / Σx)``) when ``log_normalize``, or a processed matrix served under
    ``GAN_KEYS.EXPRESSION``; ``z`` is the posterior mean of each cell, or a fresh
    draw ``μ + σ·ε`` from its (frozen) posterior when ``code_source="sample"``.

    Parameters
    ----------
    n_genes
        Number of genes.
    n_code
        Width of the code (0 for the unconditional WGAN-GP).
    n_noise
        Width of the noise.
    code_source
        ``"mean"`` or ``"sample"`` (see above).
    log_normalize
        Log-normalise the minibatch (counts in) before the networks see it.
    target_sum
        Total per cell after normalisation (1e4, as ``sc.pp.normalize_total``).
    expression_key
        Minibatch key of the matrix the GAN learns (``"X"`` or ``GAN_KEYS.EXPRESSION``).
    generator_hidden, critic_hidden, n_features, projection, critic_normalization
        See :class:`Generator` and :class:`ProjectionCritic`.
    generator_normalization
        Normalisation of the generator's hidden layers (``"batch"``, as in the paper).
    dropout_rate
        Dropout of the generator's hidden layers (0.2 in the paper).
    critic_dropout_rate
        Dropout of the critic's hidden layers.
    negative_slope
        Slope of every LeakyReLU.
    output_activation
        See :class:`Generator`.

    Examples
    --------
    >>> module = GANModule(n_genes=100, n_code=10, n_noise=118)
    >>> module.generate(torch.randn(4, 10), module.sample_noise(4)).shape
    torch.Size([4, 100])
    """

    def __init__(
        self,
        n_genes: int,
        n_code: int = 0,
        n_noise: int = 128,
        code_source: CodeSource = "mean",
        log_normalize: bool = True,
        target_sum: float = 1e4,
        expression_key: str = REGISTRY_KEYS.X_KEY,
        generator_hidden: Sequence[int] = GENERATOR_HIDDEN,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        projection: Projection = "learned",
        critic_normalization: Normalization = "layer",
        generator_normalization: Normalization = "batch",
        dropout_rate: float = 0.2,
        critic_dropout_rate: float = 0.0,
        negative_slope: float = 0.2,
        output_activation: OutputActivation = "relu",
    ):
        super().__init__()
        if code_source not in CODE_SOURCES:
            raise ValueError(
                f"unknown code {code_source!r}; choose one of {', '.join(CODE_SOURCES)}"
            )
        self.n_genes, self.n_code, self.n_noise = n_genes, n_code, n_noise
        self.code_source = code_source
        self.log_normalize = log_normalize
        self.target_sum = target_sum
        self.expression_key = expression_key
        self.generator = Generator(
            n_code,
            n_noise,
            n_genes,
            n_hidden=generator_hidden,
            dropout_rate=dropout_rate,
            normalization=generator_normalization,
            negative_slope=negative_slope,
            output_activation=output_activation,
        )
        self.critic = ProjectionCritic(
            n_genes,
            n_code,
            n_hidden=critic_hidden,
            n_features=n_features,
            projection=projection,
            normalization=critic_normalization,
            dropout_rate=critic_dropout_rate,
            negative_slope=negative_slope,
        )

    @property
    def device(self) -> torch.device:
        """The device of the parameters."""
        return next(self.parameters()).device

    def on_load(self, model, **kwargs) -> None:
        """Called by :meth:`scvi.model.base.BaseModelClass.load`; nothing to do."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``log1p(target_sum · x / Σx)`` per cell when ``log_normalize``, else ``x``."""
        if not self.log_normalize:
            return x
        # A cell without counts stays at 0 (clamping keeps 0 · target_sum / library finite).
        library = x.sum(-1, keepdim=True).clamp_min(1e-12)
        return torch.log1p(x * (self.target_sum / library))

    def get_data_and_code(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The expression the GAN learns and the codes that condition it, for a minibatch."""
        x = self.normalize(tensors[self.expression_key])
        if self.n_code == 0:
            return x, None
        code = tensors[GAN_KEYS.CODE_LOC]
        if self.code_source == "sample":
            code = code + tensors[GAN_KEYS.CODE_SCALE] * torch.randn_like(code)
        return x, code

    def sample_noise(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Standard normal noise of shape ``(n, n_noise)``."""
        if generator is not None:
            noise = torch.randn(n, self.n_noise, generator=generator, device=generator.device)
            return noise.to(device or self.device)
        return torch.randn(n, self.n_noise, device=device or self.device)

    def generate(self, code: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """Generated expression for codes and noise."""
        return self.generator(code, noise)
