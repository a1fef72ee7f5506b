"""The conditional Wasserstein GAN as one module: its networks, its data and its losses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from scvi import REGISTRY_KEYS
from torch import nn

from .._normalize import TARGET_SUM, log_normalize
from ._gan_networks import (
    CRITIC_HIDDEN,
    GENERATOR_HIDDEN,
    Generator,
    OutputActivation,
    Projection,
    ProjectionCritic,
    gradient_penalty,
)
from ._mlp import Normalization

CodeSource = Literal["mean", "sample"]
#: How a cell's code is read from its posterior: its mean, or a fresh draw every minibatch.
CODE_SOURCES = ("mean", "sample")


class _GANKeys(NamedTuple):
    EXPRESSION: str = "gan_expression"
    CODE_LOC: str = "code_loc"
    CODE_SCALE: str = "code_scale"
    INFO_TARGET: str = "info_target"
    INFO_MASK: str = "info_mask"


#: Keys of the per-cell tensors the GANs read from a minibatch, besides scvi's ``"X"``: a
#: processed expression matrix, the codes' posterior means and SDs, and InfoGAN's supervised
#: targets and their mask.
GAN_KEYS = _GANKeys()


class CriticLoss(NamedTuple):
    """The critic's loss on a minibatch and the terms it is made of.

    Attributes
    ----------
    loss
        The loss the critic minimises.
    wasserstein
        The estimate ``E[D(x, z)] − E[D(G(z, n), z)]``.
    penalty
        The gradient penalty (unweighted).
    extra
        Further terms a module adds (e.g. InfoGAN's ``info_loss``), logged by the plan.
    """

    loss: torch.Tensor
    wasserstein: torch.Tensor
    penalty: torch.Tensor
    extra: dict[str, torch.Tensor] = {}  # noqa: RUF012 - never mutated

    def terms(self) -> dict[str, torch.Tensor]:
        """Every term by the name the plan logs it under (``<name>_train``)."""
        return {
            "critic_loss": self.loss,
            "wasserstein": self.wasserstein,
            "gradient_penalty": self.penalty,
            **self.extra,
        }


class GANModule(nn.Module):
    """Generator and critic of a (conditional) Wasserstein GAN, the data they learn, the losses.

    The module turns a minibatch into the pair ``(x, z)`` the GAN trains on
    (:meth:`get_data_and_code`): ``x`` is the registered matrix, log-normalised per minibatch
    (``log1p(target_sum · x / Σx)``) when ``log_normalize``, or a processed matrix served under
    ``GAN_KEYS.EXPRESSION``; ``z`` is the posterior mean of each cell, or a fresh draw
    ``μ + σ·ε`` from its (frozen) posterior when ``code_source="sample"``.

    It owns the WGAN-GP losses (:meth:`critic_loss`, with the gradient penalty, and
    :meth:`generator_loss`), as scvi-tools modules own ``loss()``; the training plan
    (:class:`~michigan.train.WGANTrainingPlan`) decides when each is minimised.

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
        See :class:`~michigan.module.Generator` and :class:`~michigan.module.ProjectionCritic`.
    generator_normalization
        Normalisation of the generator's hidden layers (``"batch"``, as in the paper).
    dropout_rate
        Dropout of the generator's hidden layers (0.2 in the paper).
    critic_dropout_rate
        Dropout of the critic's hidden layers.
    negative_slope
        Slope of every LeakyReLU.
    output_activation
        See :class:`~michigan.module.ExpressionHead`.

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
        target_sum: float = TARGET_SUM,
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
                f"unknown code_source {code_source!r}; choose one of {', '.join(CODE_SOURCES)}"
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
        return log_normalize(x, self.target_sum) if self.log_normalize else x

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

    def get_loss_targets(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Further minibatch tensors the losses need, as keyword arguments (none here)."""
        return {}

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

    def sample_fake(self, code: torch.Tensor | None, n: int) -> torch.Tensor:
        """Generated cells ``G(z, n)`` for codes (or ``n`` unconditional cells), fresh noise."""
        return self.generator(code, self.sample_noise(n))

    def generate(self, code: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """Generated expression for codes and noise."""
        return self.generator(code, noise)

    def critic_loss(
        self,
        x: torch.Tensor,
        fake: torch.Tensor,
        code: torch.Tensor | None,
        gp_lambda: float,
    ) -> CriticLoss:
        """``E[D(x̃, z)] − E[D(x, z)] + λ·E[(‖∇_x̂ D(x̂, z)‖₂ − 1)²]`` on a minibatch.

        Parameters
        ----------
        x
            Real cells (as :meth:`get_data_and_code` returns them).
        fake
            Generated cells for the same codes (no gradient to the generator needed).
        code
            The codes of the cells, or ``None`` (unconditional).
        gp_lambda
            Weight ``λ`` of the gradient penalty.
        """
        critic = self.critic
        if critic.per_sample:
            both_codes = None if code is None else torch.cat([code, code])
            real_score, fake_score = critic(torch.cat([x, fake]), both_codes).chunk(2)
        else:
            real_score, fake_score = critic(x, code), critic(fake, code)
        wasserstein = real_score.mean() - fake_score.mean()
        penalty = gradient_penalty(critic, x, fake, code)
        return CriticLoss(gp_lambda * penalty - wasserstein, wasserstein, penalty)

    def generator_loss(self, code: torch.Tensor | None, n: int) -> torch.Tensor:
        """``−E[D(G(z, n), z)]`` for codes (or ``n`` cells when unconditional), fresh noise."""
        return -self.critic(self.sample_fake(code, n), code).mean()
