"""A training plan for the β-TCVAE that logs once per epoch instead of once per step."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan

from ._resumable import ResumableTrainingMixin

#: Per-epoch sums kept by :class:`TCVAETrainingPlan`, in order; the first entry is the loss,
#: the last the number of cells.
_EPOCH_SUMS = (
    "loss",
    "reconstruction_loss",
    "kl_local",
    "mutual_info",
    "total_correlation",
    "dimension_wise_kl",
    "n_obs",
)

_LIKELY_CAUSES = (
    "Likely causes: a learning rate too high for these data (lower lr, e.g. to 1e-4), data "
    "that do not suit the likelihood (raw counts for 'nb', 'zinb' and 'poisson'; scaled, "
    "log-normalised values for 'normal'), or a very large beta."
)


class TCVAETrainingPlan(ResumableTrainingMixin, TrainingPlan):
    """scvi-tools' :class:`~scvi.train.TrainingPlan` with lean, epoch-level logging.

    The optimisation is scvi-tools' own (Adam, KL warm-up, ``n_obs`` passed to the loss,
    optional learning-rate schedule). What changes is the bookkeeping: instead of several
    Lightning ``log`` calls per minibatch, the plan adds the minibatch's terms to one
    on-device tensor and logs their per-cell means at the end of the epoch, under the same
    names scvi-tools uses (``train_loss``, ``elbo_train``, ``reconstruction_loss_train``,
    ``kl_local_train``, ``kl_global_train``, ``kl_weight`` and the extra metrics
    ``mutual_info_train``, ``total_correlation_train``, ``dimension_wise_kl_train``; the same
    with ``validation``). On small networks Lightning's per-call logging costs as much as
    the forward pass; see ``docs/benchmarks.md``.

    Every fit trains with the networks in training mode (also a second ``train()``), and a
    Lightning checkpoint holds the random-number-generator states, so that resuming from it
    on CPU gives the weights of an uninterrupted run
    (:class:`~michigan.train._resumable.ResumableTrainingMixin`). Weights or a loss that
    become NaN or infinite stop training with a :class:`FloatingPointError` naming the
    stage and the likely causes.

    Parameters
    ----------
    module
        A :class:`~michigan.module.TCVAEModule`.
    **kwargs
        Passed to :class:`scvi.train.TrainingPlan`.
    """

    def __init__(self, module, **kwargs):
        super().__init__(module, **kwargs)
        self._epoch_sums: dict[str, torch.Tensor | None] = {"train": None, "validation": None}

    def _accumulate(self, loss_output: LossOutput, mode: str) -> None:
        n_obs = loss_output.n_obs_minibatch
        extra = loss_output.extra_metrics
        terms = torch.stack(
            [
                loss_output.loss.detach() * n_obs,
                loss_output.reconstruction_loss_sum.detach(),
                loss_output.kl_local_sum.detach(),
                extra["mutual_info"] * n_obs,
                extra["total_correlation"] * n_obs,
                extra["dimension_wise_kl"] * n_obs,
                torch.as_tensor(float(n_obs), device=loss_output.loss.device),
            ]
        )
        sums = self._epoch_sums[mode]
        self._epoch_sums[mode] = terms if sums is None else sums + terms

    def _non_finite(self, what: str, mode: str) -> FloatingPointError:
        return FloatingPointError(
            f"the β-TCVAE's {what} became NaN or infinite in epoch {self.current_epoch} "
            f"(after {self.global_step} optimisation steps, at the {mode} stage); training "
            f"stopped. {_LIKELY_CAUSES}"
        )

    def _checked_forward(self, batch, mode: str) -> LossOutput:
        """The loss of a minibatch; non-finite weights raise :class:`FloatingPointError`."""
        try:
            _, _, loss_output = self.forward(batch, loss_kwargs=self.loss_kwargs)
        except ValueError:
            # torch.distributions rejects NaN parameters, as an encoder with NaN weights gives
            if all(bool(torch.isfinite(p).all()) for p in self.module.parameters()):
                raise
            raise self._non_finite("weights", mode) from None
        return loss_output

    def _log_epoch(self, mode: str) -> None:
        sums = self._epoch_sums[mode]
        if sums is None:
            return
        self._epoch_sums[mode] = None
        if not bool(torch.isfinite(sums).all()):
            raise self._non_finite("loss", mode)
        means = dict(zip(_EPOCH_SUMS, (sums[:-1] / sums[-1]).tolist(), strict=False))
        loss_name = "train_loss" if mode == "train" else "validation_loss"
        metrics = {
            loss_name: means["loss"],
            f"elbo_{mode}": means["reconstruction_loss"] + means["kl_local"],
            f"reconstruction_loss_{mode}": means["reconstruction_loss"],
            f"kl_local_{mode}": means["kl_local"],
            f"kl_global_{mode}": 0.0,
            f"mutual_info_{mode}": means["mutual_info"],
            f"total_correlation_{mode}": means["total_correlation"],
            f"dimension_wise_kl_{mode}": means["dimension_wise_kl"],
        }
        if mode == "train":
            metrics["kl_weight"] = float(self.kl_weight)
        for name, value in metrics.items():
            self.log(
                name,
                value,
                on_step=False,
                on_epoch=True,
                prog_bar=name == loss_name,
                sync_dist=self.use_sync_dist,
            )

    def training_step(self, batch, batch_idx):
        """One optimisation step; the loss terms are accumulated, not logged."""
        if "kl_weight" in self.loss_kwargs:
            self.loss_kwargs.update({"kl_weight": self.kl_weight})
        loss_output = self._checked_forward(batch, "training")
        self._accumulate(loss_output, "train")
        return loss_output.loss

    def validation_step(self, batch, batch_idx):
        """Accumulate the validation loss terms."""
        loss_output = self._checked_forward(batch, "validation")
        self._accumulate(loss_output, "validation")

    def on_train_epoch_end(self):
        """Log the epoch's per-cell means of the training terms."""
        self._log_epoch("train")

    def on_validation_epoch_end(self):
        """Log the epoch's per-cell means of the validation terms."""
        self._log_epoch("validation")
