"""A trainer that accepts Lightning's ``ModelCheckpoint``, so that runs can be resumed."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint
from scvi.train import SaveCheckpoint, Trainer, TrainRunner


class CheckpointTrainer(Trainer):
    """scvi-tools' trainer that also takes Lightning's own ``ModelCheckpoint`` callbacks.

    scvi-tools' trainer turns checkpointing off unless its own
    :class:`~scvi.train.SaveCheckpoint` is used, and Lightning then refuses a plain
    :class:`~lightning.pytorch.callbacks.ModelCheckpoint` (``MisconfigurationException``).
    Here such a callback is kept as it is (added after scvi-tools' set-up); a checkpoint that
    does not say when to save (``save_on_train_epoch_end=None``) saves at the end of every
    training epoch, as the models validate rarely and "after validation" would mean never.

    Examples
    --------
    >>> from lightning.pytorch.callbacks import ModelCheckpoint
    >>> model.train(max_epochs=100, callbacks=[ModelCheckpoint(dirpath="ckpt", save_last=True)])
    >>> model.train(max_epochs=200, ckpt_path="ckpt/last.ckpt")
    """

    def __init__(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        checkpoints = [
            c
            for c in callbacks
            if isinstance(c, ModelCheckpoint) and not isinstance(c, SaveCheckpoint)
        ]
        others = [c for c in callbacks if not any(c is k for k in checkpoints)]
        super().__init__(*args, callbacks=others, **kwargs)
        for checkpoint in checkpoints:
            if getattr(checkpoint, "_save_on_train_epoch_end", False) is None:
                checkpoint._save_on_train_epoch_end = True
        self.callbacks.extend(checkpoints)


class CheckpointTrainRunner(TrainRunner):
    """:class:`~scvi.train.TrainRunner` with :class:`CheckpointTrainer`."""

    _trainer_cls = CheckpointTrainer
