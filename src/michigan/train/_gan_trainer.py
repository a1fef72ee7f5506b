"""Lightning plumbing of GAN training: the DDP strategy, the trainer and the runner."""

from __future__ import annotations

import warnings

from lightning.pytorch.strategies import DDPStrategy
from scvi.train import TrainRunner

from ._checkpointing import CheckpointTrainer

#: Lightning strategies that need ``find_unused_parameters``: a critic step leaves the
#: generator without gradients (and a generator step the critic), which plain DDP rejects.
_FIND_UNUSED = {
    "ddp": "ddp_find_unused_parameters_true",
    "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
    "ddp_fork": "ddp_fork_find_unused_parameters_true",
    "ddp_notebook": "ddp_notebook_find_unused_parameters_true",
}

#: Lightning warnings that do not apply to a GAN, which trains on every cell (no validation)
#: and logs once per epoch.
_IGNORED_WARNINGS = (
    "Last batch will have a small size",
    ".*val_dataloader.*no `validation_step`",
    ".*smaller than the logging interval",
)


def gan_strategy(strategy):
    """The Lightning strategy for a GAN: DDP with ``find_unused_parameters=True``.

    Parameters
    ----------
    strategy
        A Lightning strategy name or instance, or ``None``.

    Returns
    -------
    ``strategy``, with the DDP names mapped to their ``find_unused_parameters=True`` variant.

    Examples
    --------
    >>> gan_strategy("ddp")
    'ddp_find_unused_parameters_true'
    """
    if isinstance(strategy, str):
        if strategy.endswith("find_unused_parameters_false"):
            raise ValueError(
                f"strategy={strategy!r} cannot train a GAN: each optimiser step leaves the other "
                "network without gradients; pass strategy='ddp'"
            )
        return _FIND_UNUSED.get(strategy, strategy)
    ddp_kwargs = getattr(strategy, "_ddp_kwargs", {}) or {}
    if isinstance(strategy, DDPStrategy) and not ddp_kwargs.get("find_unused_parameters", True):
        raise ValueError(
            "a GAN needs DDPStrategy(find_unused_parameters=True): each optimiser step leaves "
            "the other network without gradients"
        )
    return strategy


class GANTrainer(CheckpointTrainer):
    """The trainer of the GANs: :class:`CheckpointTrainer` with a GAN's DDP strategy.

    Lightning's own ``ModelCheckpoint`` callbacks are kept (so a GAN run writes checkpoints and
    resumes from one with ``ckpt_path=...``), and a DDP strategy is mapped by
    :func:`gan_strategy`.
    """

    def __init__(self, *args, strategy="auto", **kwargs):
        super().__init__(*args, strategy=gan_strategy(strategy), **kwargs)


class GANTrainRunner(TrainRunner):
    """:class:`~scvi.train.TrainRunner` with :class:`GANTrainer`, quiet about what a GAN lacks."""

    _trainer_cls = GANTrainer

    def __call__(self):
        """Train (without Lightning's warnings about validation and logging intervals)."""
        with warnings.catch_warnings():
            for message in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            return super().__call__()
