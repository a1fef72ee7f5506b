"""The networks of the conditional Wasserstein GAN: generator, output head, projection critic.

The gradient penalty sits beside the critic it constrains.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from ._mlp import MLP, NORMALIZATIONS, Normalization

OutputActivation = Literal["relu", "softplus"] | None
#: Output activations of the generator (``None``: linear).
OUTPUT_ACTIVATIONS = ("relu", "softplus", None)
OutputHead = Literal["counts", "library_size", "expression"]
#: Output heads of the generator: :class:`~michigan.module.CountHead`,
#: :class:`LibrarySizeHead` or :class:`ExpressionHead`.
OUTPUT_HEADS = ("counts", "library_size", "expression")
Projection = Literal["learned", "identity"]
#: Forms of the critic's projection matrix ``V``.
PROJECTIONS = ("learned", "identity")

#: Generator widths of the paper: ``[code, noise] → 256 → 512 → 1024 → genes``.
GENERATOR_HIDDEN = (256, 512, 1024)
#: Critic widths of the paper: ``x → 1024 → 512 → h``.
PAPER_CRITIC_HIDDEN = (1024, 512)
#: Default critic widths: the paper's, ``x → 1024 → 512 → h``.
CRITIC_HIDDEN = PAPER_CRITIC_HIDDEN
#: Default dropout after each of the critic's hidden layers (none, as in the paper).
CRITIC_DROPOUT_RATE = 0.0
#: Default dropout of the genes the critic sees (none in the paper). Each cell, real or
#: generated, reaches the critic with a random fifth of its genes zeroed, an augmentation of
#: both sides (as in Zhao et al.'s DiffAugment) that keeps the wide critic from learning the
#: few thousand training cells themselves: without it the generated cells of small data sets
#: spread out past the real ones as training goes on (measured in
#: docs/generation_benchmark.md).
CRITIC_INPUT_DROPOUT_RATE = 0.2
#: Width of the critic's last feature layer ``h`` of an unconditional critic (10 in the paper).
N_FEATURES = 10
#: Width of ``h`` of a conditional critic with a learned projection (10 in the paper). The
#: code reaches the critic only through ``(V z)ᵀ h``; with 64 features instead of 10 the
#: generator learned to place cells where their codes say (the step along a Splatter path)
#: within 600–1,400 generator steps on three seeds, where with 10 it took 2,000 to 3,000
#: (measured in docs/generation_benchmark.md).
CONDITIONAL_N_FEATURES = 64


class ExpressionHead(nn.Module):
    """The generator's output head: last hidden layer → genes, then the output activation.

    Parameters
    ----------
    n_input
        Width of the last hidden layer.
    n_output
        Number of genes.
    output_activation
        ``"relu"`` or ``"softplus"`` keep the output non-negative (as log-normalised expression
        is); ``None`` leaves it linear (for data with negative values, e.g. scaled expression).

    Examples
    --------
    >>> head = ExpressionHead(n_input=32, n_output=100)
    >>> head(torch.randn(4, 32)).shape
    torch.Size([4, 100])
    """

    def __init__(self, n_input: int, n_output: int, output_activation: OutputActivation = "relu"):
        super().__init__()
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"unknown output_activation {output_activation!r}; choose 'relu', 'softplus' "
                "or None"
            )
        self.linear = nn.Linear(n_input, n_output)
        self.activation = {
            "relu": nn.ReLU(),
            "softplus": nn.Softplus(),
            None: nn.Identity(),
        }[output_activation]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Expression of shape ``(n, n_output)`` from the last hidden layer."""
        return self.activation(self.linear(hidden))


class LibrarySizeHead(nn.Module):
    """The generator's output head for log-normalised expression: every cell has the library.

    ``y = ReLU(W h + b)``, ``y ← target_sum · y / Σ_genes y``, output ``log1p(y)``: each
    generated cell's ``expm1`` sums to ``target_sum`` (as after ``sc.pp.normalize_total``) by
    construction, and a gene is exactly 0 wherever its ReLU is (so zeros are reachable, unlike
    with a softmax). A cell whose ReLU is zero for every gene (rare; it has no gradient
    either) gets ``target_sum`` spread evenly over the genes.

    Parameters
    ----------
    n_input
        Width of the last hidden layer.
    n_output
        Number of genes.
    target_sum
        The library of every generated cell before ``log1p`` (1e4, as ``normalize_total``).

    Examples
    --------
    >>> head = LibrarySizeHead(n_input=32, n_output=100, target_sum=1e4)
    >>> cells = head(torch.randn(4, 32))
    >>> torch.expm1(cells.double()).sum(1).round()
    tensor([10000., 10000., 10000., 10000.], dtype=torch.float64)
    """

    def __init__(self, n_input: int, n_output: int, target_sum: float = 1e4):
        super().__init__()
        if not target_sum > 0:
            raise ValueError(f"target_sum must be a positive number, got {target_sum}")
        self.linear = nn.Linear(n_input, n_output)
        self.target_sum = float(target_sum)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-normalised expression of shape ``(n, n_output)`` from the last hidden layer."""
        weights = torch.relu(self.linear(hidden))
        # A cell with every gene off gets the target sum spread evenly (no host sync here).
        weights = torch.where(weights.sum(-1, keepdim=True) > 0, weights, 1.0)
        return torch.log1p(weights * (self.target_sum / weights.sum(-1, keepdim=True)))


class Generator(nn.Module):
    """Maps a code and noise to an expression profile.

    ``[code, noise] → hidden layers → head``, every hidden layer ``Linear → normalisation →
    LeakyReLU → Dropout`` (:class:`~michigan.module.MLP`), the head an
    :class:`ExpressionHead` unless another is given (the GAN models give a
    :class:`LibrarySizeHead` for log-normalised expression).

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
        See :class:`ExpressionHead` (ignored when ``head`` is given).
    head
        A module mapping the last hidden layer (width ``n_hidden[-1]``) to the genes; defaults
        to ``ExpressionHead(n_hidden[-1], n_output, output_activation)``.

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
        head: nn.Module | None = None,
    ):
        super().__init__()
        if n_code + n_noise < 1:
            raise ValueError("the generator needs an input: n_code + n_noise must be at least 1")
        self.n_code, self.n_noise, self.n_output = n_code, n_noise, n_output
        self.hidden = MLP(n_code + n_noise, n_hidden, dropout_rate, normalization, negative_slope)
        self.head = (
            ExpressionHead(self.hidden.n_output, n_output, output_activation)
            if head is None
            else head
        )

    def forward(
        self,
        code: torch.Tensor | None,
        noise: torch.Tensor,
        library: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Expression profiles of shape ``(n, n_output)`` for codes and noise of ``n`` cells.

        ``library`` (each cell's library size) goes to a head that draws counts
        (:class:`~michigan.module.CountHead`); other heads take none.
        """
        inputs = noise if code is None or self.n_code == 0 else torch.cat([code, noise], dim=-1)
        hidden = self.hidden(inputs)
        return self.head(hidden) if library is None else self.head(hidden, library)


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
        Widths of the hidden layers (:data:`CRITIC_HIDDEN`, the paper's ``(1024, 512)``, by
        default).
    n_features
        Width of ``h`` (10 in the paper); defaults to :data:`CONDITIONAL_N_FEATURES` (64) for
        a conditional critic with a learned projection, ``n_code`` for the identity
        projection, and :data:`N_FEATURES` (10) for an unconditional critic.
    projection
        ``"learned"`` or ``"identity"``.
    normalization
        ``"layer"`` (default), ``"none"``, or ``"batch"`` (the paper's; it makes a cell's score
        depend on the rest of its minibatch, which breaks the per-sample gradient penalty).
    dropout_rate
        Dropout after each hidden layer.
    input_dropout_rate
        Dropout of the input genes (0: none; the GANs' default is
        :data:`CRITIC_INPUT_DROPOUT_RATE`).
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
        input_dropout_rate: float = 0.0,
        negative_slope: float = 0.2,
    ):
        super().__init__()
        if not 0 <= input_dropout_rate < 1:
            raise ValueError(f"input_dropout_rate must lie in [0, 1), got {input_dropout_rate}")
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
            n_features = (
                n_code if identity else CONDITIONAL_N_FEATURES if n_code > 0 else N_FEATURES
            )
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
        self.input_dropout = nn.Dropout(input_dropout_rate) if input_dropout_rate > 0 else None
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
        if self.input_dropout is not None:
            x = self.input_dropout(x)
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


def gradient_penalty(
    critic: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    code: torch.Tensor | None = None,
    epsilon: torch.Tensor | None = None,
) -> torch.Tensor:
    """The WGAN-GP penalty ``E[(‖∇_x̂ D(x̂, z)‖₂ − 1)²]``.

    ``x̂ = ε·x + (1 − ε)·x̃`` interpolates each real cell with a generated one, ``ε ~ U(0, 1)``
    drawn per cell; the gradient is that of each cell's own score, so the penalty is exact
    only for critics that score cells independently (no batch norm).

    Parameters
    ----------
    critic
        Callable ``critic(x, code)`` returning one score per cell.
    real, fake
        Real and generated cells, of the same shape ``(n, n_genes)``.
    code
        Codes of the cells (the same for both halves), or ``None``.
    epsilon
        Interpolation weights of shape ``(n, 1)``; drawn uniformly when ``None``.

    Returns
    -------
    A scalar tensor, differentiable with respect to the critic's parameters.

    Examples
    --------
    >>> w = torch.tensor([3.0, 4.0])
    >>> penalty = gradient_penalty(lambda x, z: x @ w, torch.randn(8, 2), torch.randn(8, 2))
    >>> float(penalty)  # (‖w‖ − 1)²
    16.0
    """
    if epsilon is None:
        epsilon = torch.rand(real.shape[0], 1, device=real.device, dtype=real.dtype)
    interpolated = (epsilon * real + (1 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(interpolated, code)
    (gradient,) = torch.autograd.grad(scores.sum(), interpolated, create_graph=True)
    return ((gradient.norm(2, dim=1) - 1) ** 2).mean()
