"""InfoGAN's networks and losses: a critic with a Q-head, codes from the prior."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._gan import GAN_KEYS, CriticLoss, GANModule
from ._gan_networks import (
    CRITIC_DROPOUT_RATE,
    CRITIC_HIDDEN,
    CRITIC_INPUT_DROPOUT_RATE,
    ProjectionCritic,
    gradient_penalty,
)


class InfoCritic(ProjectionCritic):
    """An unconditional critic whose body also feeds a Q-head that predicts the code.

    ``Q(x) = head(body(x))`` is the mean of a Gaussian of fixed variance over the code, so its
    negative log-likelihood is a squared error. The head belongs to the critic's parameters and
    is trained by the critic's optimiser.

    Parameters
    ----------
    n_input
        Number of genes.
    n_code
        Width of the structured code ``c`` that Q predicts.
    **kwargs
        Passed to :class:`~michigan.module.ProjectionCritic` (``n_code`` there is 0).

    Examples
    --------
    >>> critic = InfoCritic(n_input=100, n_code=10)
    >>> critic(torch.randn(4, 100)).shape, critic.predict_code(torch.randn(4, 100)).shape
    (torch.Size([4]), torch.Size([4, 10]))
    """

    def __init__(self, n_input: int, n_code: int, **kwargs):
        super().__init__(n_input, 0, **kwargs)
        self.q_head = nn.Linear(self.body.n_output, n_code)

    def predict_code(self, x: torch.Tensor) -> torch.Tensor:
        """Q's estimate of the code of each cell, shape ``(n, n_code)``."""
        return self.q_head(self.body(x))

    def score_and_code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``D(x)`` and codes ``Q(x)`` from one pass through the shared body."""
        body = self.body(x)
        return self.linear(self.features(body)).squeeze(-1), self.q_head(body)


class InfoGANModule(GANModule):
    """Generator of ``[c, noise]``, an unconditional critic with a Q-head, and InfoGAN's losses.

    The code ``c`` is drawn from ``N(0, I)`` for every minibatch (it is the generator's
    structured input, not a property of the real cells). Critic (with Q) and generator both add
    ``info_weight · ‖Q(G(c, n)) − c‖²`` (mean over cells and code dimensions) to their WGAN-GP
    losses; given supervised targets ``y`` and their mask, the critic also adds
    ``supervised_weight · ‖Q(x)[:, :k] − y‖²`` over the labelled real cells, which ties the
    first ``k`` code dimensions to ``k`` known factors.

    Parameters
    ----------
    n_genes
        Number of genes.
    n_code
        Width of the structured code.
    info_weight
        Weight ``λ_info`` of the information term.
    supervised_weight
        Weight of the supervised term.
    critic_hidden, n_features, critic_normalization, critic_dropout_rate
        See :class:`~michigan.module.GANModule`.
    critic_input_dropout_rate, negative_slope
        See :class:`~michigan.module.ProjectionCritic`.
    **kwargs
        Passed to :class:`~michigan.module.GANModule`.

    Examples
    --------
    >>> module = InfoGANModule(n_genes=100, n_code=10, n_noise=118)
    >>> module.critic.predict_code(torch.randn(4, 100)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        n_genes: int,
        n_code: int = 10,
        info_weight: float = 1.0,
        supervised_weight: float = 1.0,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        critic_normalization: str = "layer",
        critic_dropout_rate: float = CRITIC_DROPOUT_RATE,
        critic_input_dropout_rate: float = CRITIC_INPUT_DROPOUT_RATE,
        negative_slope: float = 0.2,
        **kwargs,
    ):
        super().__init__(
            n_genes,
            n_code,
            critic_hidden=critic_hidden,
            critic_normalization="none",  # the critic is replaced below (no warning twice)
            negative_slope=negative_slope,
            **kwargs,
        )
        self.info_weight, self.supervised_weight = info_weight, supervised_weight
        self.critic = InfoCritic(
            n_genes,
            n_code,
            n_hidden=tuple(critic_hidden),
            n_features=n_features,
            normalization=critic_normalization,
            dropout_rate=critic_dropout_rate,
            input_dropout_rate=critic_input_dropout_rate,
            negative_slope=negative_slope,
        )

    def get_data_and_code(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch's expression and fresh codes ``c ~ N(0, I)`` for the generator."""
        x = self.normalize(tensors[self.expression_key])
        return x, torch.randn(x.shape[0], self.n_code, device=x.device, dtype=x.dtype)

    def get_loss_targets(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The supervised targets and their mask, when the minibatch carries them."""
        if GAN_KEYS.INFO_TARGET not in tensors:
            return {}
        return {"target": tensors[GAN_KEYS.INFO_TARGET], "mask": tensors[GAN_KEYS.INFO_MASK]}

    @staticmethod
    def supervised_loss(
        predicted: torch.Tensor, target: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Squared error of Q's codes of real cells on their labels (0 without targets)."""
        if target is None:
            return predicted.new_zeros(())
        error = mask * (predicted[:, : target.shape[1]] - target) ** 2
        return error.sum() / mask.sum().clamp_min(1.0)

    def critic_loss(
        self,
        x: torch.Tensor,
        fake: torch.Tensor,
        code: torch.Tensor,
        gp_lambda: float,
        target: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> CriticLoss:
        """WGAN-GP critic loss plus the information term and, with targets, the supervised one.

        Parameters
        ----------
        x, fake, code, gp_lambda
            See :meth:`michigan.module.GANModule.critic_loss`.
        target
            Standardised factor values of the real cells (0 where unlabelled), shape
            ``(n, k)``.
        mask
            1 where ``target`` is known, else 0.
        """
        scores, predicted = self.critic.score_and_code(torch.cat([x, fake]))
        real_score, fake_score = scores.chunk(2)
        wasserstein = real_score.mean() - fake_score.mean()
        penalty = gradient_penalty(self.critic, x, fake)
        n = x.shape[0]
        info = ((predicted[n:] - code) ** 2).mean()
        loss = gp_lambda * penalty - wasserstein + self.info_weight * info
        loss = loss + self.supervised_weight * self.supervised_loss(predicted[:n], target, mask)
        return CriticLoss(loss, wasserstein, penalty, {"info_loss": info})

    def generator_loss(
        self, code: torch.Tensor, n: int, library: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``−E[D(G(c, n))] + λ_info · ‖Q(G(c, n)) − c‖²``."""
        score, predicted = self.critic.score_and_code(self.sample_fake(code, n, library))
        return -score.mean() + self.info_weight * ((predicted - code) ** 2).mean()
