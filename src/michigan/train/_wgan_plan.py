"""Lightning training plan of the Wasserstein GAN with gradient penalty (WGAN-GP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import lightning.pytorch as pl
import torch

from ..module._gan import GANModule
from ._prediction_step import PredictionStep

#: Weight of the gradient penalty (Gulrajani et al., 2017).
GP_LAMBDA = 10.0
#: Critic updates per generator update.
N_CRITIC = 5
#: Adam's betas of the WGAN-GP paper.
ADAM_BETAS = (0.5, 0.9)

_LIKELY_CAUSES = (
    "Likely causes: a learning rate too high for these data (lower lr_critic and "
    "lr_generator, e.g. to 5e-5), or unnormalised input (the GAN should learn log-normalised "
    "expression: keep log_normalize=True for raw counts, or scale the processed layer)."
)


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


class WGANTrainingPlan(pl.LightningModule):
    """Alternating critic and generator updates of a (conditional) WGAN-GP.

    Every minibatch gives one critic update with

    ``L_D = E[D(G(z, n), z)] − E[D(x, z)] + λ·E[(‖∇_x̂ D(x̂, z)‖₂ − 1)²]``,

    and every ``n_critic``-th minibatch also one generator update with
    ``L_G = −E[D(G(z, n), z)]`` on that minibatch's codes and fresh noise: the critic takes
    ``n_critic`` steps per generator step, each on a fresh minibatch, and one epoch is one pass
    of the critic over the cells. The same code conditions the real and the generated half.

    Per-step work is kept to the two updates: the losses are summed on the device, checked for
    NaN/Inf once per generator step and at the end of the epoch, and logged once per epoch as
    means (``wasserstein_train``, the estimate ``E[D(x, z)] − E[D(G(z, n), z)]``;
    ``gradient_penalty_train``; ``critic_loss_train``; ``generator_loss_train``), also on the
    progress bar. A NaN or infinite loss stops training with a :class:`FloatingPointError`
    that names the stage (critic or generator) and the likely causes.

    Parameters
    ----------
    module
        The generator and critic (:class:`~michigan.module.GANModule`).
    n_critic
        Critic updates per generator update.
    lr_generator, lr_critic
        Adam learning rates.
    betas
        Adam's ``(β₁, β₂)``; ``(0.5, 0.9)`` as in Gulrajani et al. (2017).
    gp_lambda
        Weight ``λ`` of the gradient penalty.
    prediction
        Use the prediction step of Yadav et al. (2018): the critic is updated against the
        generator's extrapolated parameters ``θ̄ = θ_{k+1} + (θ_{k+1} − θ_k)`` and the
        generator against the critic's (see :class:`~michigan.train.PredictionStep`).
    weight_decay
        Adam's weight decay (both players).

    Examples
    --------
    >>> from michigan.module import GANModule
    >>> plan = WGANTrainingPlan(GANModule(n_genes=100, n_code=10, n_noise=118), n_critic=5)
    >>> trainer = lightning.pytorch.Trainer(max_epochs=10)
    >>> trainer.fit(plan, train_dataloaders=loader)  # batches: {"X": ..., "code_loc": ...}
    """

    def __init__(
        self,
        module: GANModule,
        n_critic: int = N_CRITIC,
        lr_generator: float = 1e-4,
        lr_critic: float = 1e-4,
        betas: Sequence[float] = ADAM_BETAS,
        gp_lambda: float = GP_LAMBDA,
        prediction: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        if isinstance(n_critic, bool) or not isinstance(n_critic, int) or n_critic < 1:
            raise ValueError(
                f"n_critic must be an integer >= 1 (critic steps per generator step), got "
                f"{n_critic!r}; the paper uses 5"
            )
        self.module = module
        self.n_critic = n_critic
        self.lr_generator, self.lr_critic = lr_generator, lr_critic
        self.betas = tuple(betas)
        self.gp_lambda = gp_lambda
        self.prediction = prediction
        self.weight_decay = weight_decay
        self.automatic_optimization = False
        self.critic_steps = 0
        self.generator_steps = 0
        self._critic_params = list(module.critic.parameters())
        self._predict_generator = (
            PredictionStep(module.generator.parameters()) if prediction else None
        )
        self._predict_critic = PredictionStep(self._critic_params) if prediction else None
        self._critic_sums = torch.zeros(3)
        self._generator_sum = torch.zeros(())
        self._n_critic_epoch = self._n_generator_epoch = 0

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for the generator, then Adam for the critic."""
        kwargs = {"betas": self.betas, "weight_decay": self.weight_decay}
        return [
            torch.optim.Adam(self.module.generator.parameters(), lr=self.lr_generator, **kwargs),
            torch.optim.Adam(self._critic_params, lr=self.lr_critic, **kwargs),
        ]

    def critic_loss(
        self, x: torch.Tensor, code: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Critic loss, Wasserstein estimate and gradient penalty on a minibatch."""
        module = self.module
        noise = module.sample_noise(x.shape[0], device=x.device)
        with torch.no_grad(), _maybe(self._predict_generator):
            fake = module.generator(code, noise)
        critic = module.critic
        if critic.per_sample:
            both_codes = None if code is None else torch.cat([code, code])
            real_score, fake_score = critic(torch.cat([x, fake]), both_codes).chunk(2)
        else:
            real_score, fake_score = critic(x, code), critic(fake, code)
        wasserstein = real_score.mean() - fake_score.mean()
        penalty = gradient_penalty(critic, x, fake, code)
        return self.gp_lambda * penalty - wasserstein, wasserstein, penalty

    def generator_loss(self, code: torch.Tensor | None, n: int) -> torch.Tensor:
        """``−E[D(G(z, n), z)]`` for codes (or ``n`` cells when unconditional)."""
        noise = self.module.sample_noise(n, device=self.device)
        return -self.module.critic(self.module.generator(code, noise), code).mean()

    def on_train_epoch_start(self) -> None:
        """Reset the epoch's sums of the losses."""
        self._critic_sums = torch.zeros(3, device=self.device)
        self._generator_sum = torch.zeros((), device=self.device)
        self._n_critic_epoch = self._n_generator_epoch = 0

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One critic update, and a generator update on every ``n_critic``-th minibatch.

        Returns the critic loss (detached), for callbacks.
        """
        opt_generator, opt_critic = self.optimizers()
        x, code = self.module.get_data_and_code(batch)

        loss, wasserstein, penalty = self.critic_loss(x, code)
        opt_critic.zero_grad()
        self.manual_backward(loss)
        if self._predict_critic is not None:
            self._predict_critic.snapshot()
        opt_critic.step()
        self.critic_steps += 1
        self._n_critic_epoch += 1
        self._critic_sums += torch.stack([loss, wasserstein, penalty]).detach()

        if self.critic_steps % self.n_critic == 0:
            self._generator_step(opt_generator, code, x.shape[0])
        if batch_idx == self.trainer.num_training_batches - 1:
            self._log_epoch()
        return loss.detach()

    def _generator_step(self, optimizer, code: torch.Tensor | None, n: int) -> None:
        for parameter in self._critic_params:
            parameter.requires_grad_(False)
        try:
            with _maybe(self._predict_critic):
                loss = self.generator_loss(code, n)
                self._check_finite(loss.detach())
                optimizer.zero_grad()
                self.manual_backward(loss)
        finally:
            for parameter in self._critic_params:
                parameter.requires_grad_(True)
        if self._predict_generator is not None:
            self._predict_generator.snapshot()
        optimizer.step()
        self.generator_steps += 1
        self._n_generator_epoch += 1
        self._generator_sum += loss.detach()

    def _check_finite(self, generator_loss: torch.Tensor | None = None) -> None:
        """Stop with an error naming the stage when a loss is NaN or infinite.

        The epoch's running sum of the critic losses turns NaN/Inf with any of its terms, so one
        check per generator step (one device synchronisation) covers every critic step before.
        """
        values = (
            self._critic_sums
            if generator_loss is None
            else torch.cat([self._critic_sums, generator_loss.reshape(1)])
        )
        if bool(torch.isfinite(values).all()):
            return
        stage = "generator" if bool(torch.isfinite(self._critic_sums).all()) else "critic"
        raise FloatingPointError(
            f"the {stage} loss became NaN or infinite in epoch {self.current_epoch} (after "
            f"{self.critic_steps} critic and {self.generator_steps} generator steps); training "
            f"stopped at the {stage} stage. {_LIKELY_CAUSES}"
        )

    def _log_epoch(self) -> None:
        """Check the epoch's losses and log their means (once per epoch)."""
        self._check_finite()
        critic = self._critic_sums / max(self._n_critic_epoch, 1)
        metrics = {
            "wasserstein_train": critic[1],
            "gradient_penalty_train": critic[2],
            "critic_loss_train": critic[0],
        }
        if self._n_generator_epoch:
            metrics["generator_loss_train"] = self._generator_sum / self._n_generator_epoch
        self.log_dict(
            metrics, on_step=False, on_epoch=True, prog_bar=True, batch_size=1, sync_dist=True
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Save the step counters (and the prediction step's memory) with a checkpoint."""
        state = {"critic_steps": self.critic_steps, "generator_steps": self.generator_steps}
        if self.prediction:
            state["predict_generator"] = self._predict_generator.state_dict()
            state["predict_critic"] = self._predict_critic.state_dict()
        checkpoint["wgan_plan"] = state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore what :meth:`on_save_checkpoint` saved."""
        state = checkpoint.get("wgan_plan", {})
        self.critic_steps = state.get("critic_steps", 0)
        self.generator_steps = state.get("generator_steps", 0)
        if self.prediction and "predict_generator" in state:
            self._predict_generator.load_state_dict(state["predict_generator"])
            self._predict_critic.load_state_dict(state["predict_critic"])


def _maybe(prediction: PredictionStep | None) -> AbstractContextManager:
    """The prediction step's lookahead, or a no-op context."""
    return prediction.lookahead() if prediction is not None else nullcontext()
