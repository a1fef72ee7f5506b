"""Lightning training plan of the Wasserstein GAN with gradient penalty (WGAN-GP)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from types import MappingProxyType

import lightning.pytorch as pl
import numpy as np
import torch

from ..module import GANModule
from ._extrapolation_step import ExtrapolationStep
from ._resumable import ResumableTrainingMixin

#: Weight of the gradient penalty (Gulrajani et al., 2017).
GP_LAMBDA = 10.0
#: Critic updates per generator update (the paper's 5; 2 trains faster per CPU second).
N_CRITIC = 2
#: Adam's betas of the WGAN-GP paper.
ADAM_BETAS = (0.5, 0.9)
#: Adam's learning rate of the generator (the paper: around 1e-4 to 5e-4, both networks).
GAN_LEARNING_RATE = 1e-4
#: Adam's learning rate of the critic: four times the generator's (two time-scale updates,
#: Heusel et al., 2017).
CRITIC_LEARNING_RATE = 4e-4
#: Decay of the moving average of the generator's weights that generates cells.
EMA_DECAY = 0.99
#: Default GAN budget (when none is given): 4000 generator steps or :data:`GAN_MAX_TIME` of
#: wall time, whichever comes first (the quality measured on pbmc68k kept rising to ~4000
#: steps; a 2-core CPU does fewer than that in ten minutes on 2,000 genes).
GAN_MAX_STEPS = 4000
#: Default wall-time cap of the GAN stage (with :data:`GAN_MAX_STEPS`).
GAN_MAX_TIME = timedelta(minutes=10)
#: The paper's GAN epochs (passes of the critic over the cells), on a GPU: ``max_epochs=1000``.
GAN_MAX_EPOCHS = 1000
#: ``train()`` arguments of the paper's GAN stage: 1000 epochs, 5 critic steps per generator
#: step, one learning rate, no moving average (with :data:`~michigan.module.PAPER_NETWORKS`).
PAPER_TRAINING = MappingProxyType(
    {
        "max_epochs": GAN_MAX_EPOCHS,
        "n_critic": 5,
        "lr_generator": 1e-4,
        "lr_critic": 1e-4,
        "ema_decay": None,
        "monitor": False,
    }
)

_LIKELY_CAUSES = (
    "Likely causes: a learning rate too high for these data (lower lr_critic and "
    "lr_generator, e.g. to 5e-5), or unnormalised input (the GAN should learn log-normalised "
    "expression: keep log_normalize=True for raw counts, or scale the processed layer)."
)


def _check_positive_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return float(value)


class WGANTrainingPlan(ResumableTrainingMixin, pl.LightningModule):
    """Alternating critic and generator updates of a (conditional) WGAN-GP.

    Every minibatch gives one critic update on the module's
    :meth:`~michigan.module.GANModule.critic_loss`,

    ``L_D = E[D(G(z, n), z)] − E[D(x, z)] + λ·E[(‖∇_x̂ D(x̂, z)‖₂ − 1)²]``,

    and every ``n_critic``-th minibatch also one generator update on its
    :meth:`~michigan.module.GANModule.generator_loss`, ``L_G = −E[D(G(z, n), z)]``, with that
    minibatch's codes and fresh noise: the critic takes ``n_critic`` steps per generator step,
    each on a fresh minibatch, and one epoch is one pass of the critic over the cells. The
    module owns the losses (an InfoGAN module adds its terms); the plan orders the steps, runs
    the extrapolation step and logs.

    Per-step work is kept to the two updates: the losses are summed on the device, checked for
    NaN/Inf once per generator step and at the end of the epoch, and logged once per epoch as
    means (``wasserstein_train``, the estimate ``E[D(x, z)] − E[D(G(z, n), z)]``;
    ``gradient_penalty_train``; ``critic_loss_train``; ``generator_loss_train``; and any term
    the module adds, e.g. ``info_loss_train``), also on the progress bar. A NaN or infinite
    loss stops training with a :class:`FloatingPointError` that names the stage (critic or
    generator) and the likely causes.

    Parameters
    ----------
    module
        The generator and critic with their losses (:class:`~michigan.module.GANModule`).
    n_critic
        Critic updates per generator update.
    lr_generator, lr_critic
        Adam learning rates.
    betas
        Adam's ``(β₁, β₂)``; ``(0.5, 0.9)`` as in Gulrajani et al. (2017).
    gp_lambda
        Weight ``λ`` of the gradient penalty.
    extrapolation
        Use the extrapolation step of Yadav et al. (2018, their "prediction method"): the
        critic is updated against the generator's extrapolated parameters
        ``θ̄ = θ_{k+1} + (θ_{k+1} − θ_k)`` and the generator against the critic's (see
        :class:`~michigan.train.ExtrapolationStep`).
    weight_decay
        Adam's weight decay (both players).
    ema_decay
        Decay of an exponential moving average of the generator's weights, updated after
        every generator step (:meth:`~michigan.module.GANModule.update_generator_average`)
        and used to generate cells; ``None`` or 0 turn it off (cells then come from the live
        generator, as in the paper).

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
        lr_generator: float = GAN_LEARNING_RATE,
        lr_critic: float = CRITIC_LEARNING_RATE,
        betas: Sequence[float] = ADAM_BETAS,
        gp_lambda: float = GP_LAMBDA,
        extrapolation: bool = False,
        weight_decay: float = 0.0,
        ema_decay: float | None = EMA_DECAY,
    ):
        super().__init__()
        if isinstance(n_critic, bool) or not isinstance(n_critic, int | np.integer):
            raise TypeError(f"n_critic must be an integer, got {n_critic!r}")
        if n_critic < 1:
            raise ValueError(
                f"n_critic must be at least 1 (critic steps per generator step), got "
                f"{n_critic}; the paper uses 5"
            )
        self.lr_generator = _check_positive_number(lr_generator, "lr_generator")
        self.lr_critic = _check_positive_number(lr_critic, "lr_critic")
        betas = tuple(float(b) for b in betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if not np.isfinite(gp_lambda) or gp_lambda < 0:
            raise ValueError(f"gp_lambda must be a finite number >= 0, got {gp_lambda}")
        if ema_decay is not None and (
            isinstance(ema_decay, bool)
            or not isinstance(ema_decay, int | float | np.number)
            or not 0 <= ema_decay < 1
        ):
            raise ValueError(
                f"ema_decay must be a number in [0, 1) (e.g. 0.99), or None to turn the moving "
                f"average off; got {ema_decay!r}"
            )
        self.module = module
        self.n_critic = int(n_critic)
        self.betas = betas
        self.gp_lambda = float(gp_lambda)
        self.extrapolation = bool(extrapolation)
        self.weight_decay = weight_decay
        self.ema_decay = float(ema_decay) if ema_decay else None
        if self.ema_decay is None:
            module.reset_generator_average()  # generate with the weights this plan trains
        self.automatic_optimization = False
        self.critic_steps = 0
        self.generator_steps = 0
        self._critic_params = list(module.critic.parameters())
        self._extrapolate_generator = (
            ExtrapolationStep(module.generator.parameters()) if extrapolation else None
        )
        self._extrapolate_critic = (
            ExtrapolationStep(self._critic_params) if extrapolation else None
        )
        self._critic_names: list[str] = []
        self._critic_sums = torch.zeros(0)
        self._generator_sum = torch.zeros(())
        self._n_critic_epoch = self._n_generator_epoch = 0

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam for the generator, then Adam for the critic."""
        kwargs = {"betas": self.betas, "weight_decay": self.weight_decay}
        return [
            torch.optim.Adam(self.module.generator.parameters(), lr=self.lr_generator, **kwargs),
            torch.optim.Adam(self._critic_params, lr=self.lr_critic, **kwargs),
        ]

    def on_train_epoch_start(self) -> None:
        """Reset the epoch's sums of the losses."""
        self._critic_sums = torch.zeros(len(self._critic_names), device=self.device)
        self._generator_sum = torch.zeros((), device=self.device)
        self._n_critic_epoch = self._n_generator_epoch = 0

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One critic update, and a generator update on every ``n_critic``-th minibatch.

        Returns the critic loss (detached), for callbacks.
        """
        module = self.module
        x, code = module.get_data_and_code(batch)
        library = module.get_library(batch)
        targets = module.get_loss_targets(batch)
        loss = self._critic_step(x, code, library, targets)
        if self.critic_steps % self.n_critic == 0:
            self._generator_step(code, x.shape[0], library)
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        """Log the epoch's losses (also after a partial epoch, when ``max_steps`` ends it)."""
        if self._n_critic_epoch:
            self._log_epoch()

    def _critic_step(
        self,
        x: torch.Tensor,
        code: torch.Tensor | None,
        library: torch.Tensor | None,
        targets: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """One update of the critic against the (extrapolated) generator."""
        _, optimizer = self.optimizers()
        with torch.no_grad(), _lookahead(self._extrapolate_generator):
            fake = self.module.sample_fake(code, x.shape[0], library)
        output = self.module.critic_loss(x, fake, code, self.gp_lambda, **targets)
        optimizer.zero_grad()
        self.manual_backward(output.loss)
        if self._extrapolate_critic is not None:
            self._extrapolate_critic.snapshot()
        optimizer.step()
        self.critic_steps += 1
        self._n_critic_epoch += 1
        terms = output.terms()
        if not self._critic_names:
            self._critic_names = list(terms)
            self._critic_sums = torch.zeros(len(terms), device=x.device)
        self._critic_sums += torch.stack(list(terms.values())).detach()
        return output.loss

    def _generator_step(
        self, code: torch.Tensor | None, n: int, library: torch.Tensor | None = None
    ) -> None:
        """One update of the generator against the (extrapolated, frozen) critic."""
        optimizer, _ = self.optimizers()
        for parameter in self._critic_params:
            parameter.requires_grad_(False)
        try:
            with _lookahead(self._extrapolate_critic):
                loss = self.module.generator_loss(code, n, library)
                self._check_finite(loss.detach())
                optimizer.zero_grad()
                self.manual_backward(loss)
        finally:
            for parameter in self._critic_params:
                parameter.requires_grad_(True)
        if self._extrapolate_generator is not None:
            self._extrapolate_generator.snapshot()
        optimizer.step()
        self.generator_steps += 1
        self._n_generator_epoch += 1
        self._generator_sum += loss.detach()
        self.on_generator_step_end()

    def on_generator_step_end(self) -> None:
        """Hook called after every generator update: updates the moving average of its weights."""
        if self.ema_decay is not None:
            self.module.update_generator_average(self.ema_decay)

    def optimizer_steps(self, generator_steps: int) -> int:
        """Lightning's ``trainer.global_step`` after ``generator_steps`` generator steps.

        Lightning counts every optimiser step, of the critic and of the generator, and a
        generator step closes every ``n_critic`` critic steps: ``(n_critic + 1)`` per generator
        step. Pass ``Trainer(max_steps=plan.optimizer_steps(n))`` to stop after ``n`` generator
        steps (the models' ``train(max_steps=n)`` does).
        """
        return int(generator_steps) * (self.n_critic + 1)

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
        means = self._critic_sums / max(self._n_critic_epoch, 1)
        metrics = {
            f"{name}_train": mean for name, mean in zip(self._critic_names, means, strict=True)
        }
        if self._n_generator_epoch:
            metrics["generator_loss_train"] = self._generator_sum / self._n_generator_epoch
        self.log_dict(
            metrics, on_step=False, on_epoch=True, prog_bar=True, batch_size=1, sync_dist=True
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Save the step counters (and the extrapolation step's memory) with a checkpoint."""
        super().on_save_checkpoint(checkpoint)
        state = {"critic_steps": self.critic_steps, "generator_steps": self.generator_steps}
        if self.extrapolation:
            state["extrapolate_generator"] = self._extrapolate_generator.state_dict()
            state["extrapolate_critic"] = self._extrapolate_critic.state_dict()
        checkpoint["wgan_plan"] = state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore what :meth:`on_save_checkpoint` saved."""
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("wgan_plan", {})
        self.critic_steps = state.get("critic_steps", 0)
        self.generator_steps = state.get("generator_steps", 0)
        if self.extrapolation and "extrapolate_generator" in state:
            self._extrapolate_generator.load_state_dict(state["extrapolate_generator"])
            self._extrapolate_critic.load_state_dict(state["extrapolate_critic"])


def _lookahead(extrapolation: ExtrapolationStep | None) -> AbstractContextManager:
    """The extrapolation step's lookahead, or a no-op context."""
    return extrapolation.lookahead() if extrapolation is not None else nullcontext()
