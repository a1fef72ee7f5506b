"""Checks that there are enough cells to train on, run before any training starts."""

from __future__ import annotations

from math import ceil

from .data import MIN_BATCH_SIZE

#: The training fraction scvi-tools' data splitter uses when none is given.
DEFAULT_TRAIN_SIZE = 0.9


def _fraction(value, name: str, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value <= 1 if low_open else value < 1
    if not (low_ok and high_ok):
        interval = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return float(value)


def check_batch_size(batch_size: int) -> None:
    """Minibatches need at least :data:`MIN_BATCH_SIZE` cells (batch norm, the TC estimators).

    Examples
    --------
    >>> check_batch_size(128)
    """
    if batch_size < MIN_BATCH_SIZE:
        raise ValueError(
            f"batch_size={batch_size} is too small: minibatches need at least {MIN_BATCH_SIZE} "
            "cells (batch normalisation needs two, the 'mss' total-correlation estimator "
            "three, and smaller last minibatches are dropped); use a batch_size of 128 or more"
        )


def check_enough_cells(
    n_obs: int,
    train_size: float | None,
    validation_size: float | None,
    batch_size: int,
) -> int:
    """Check the split fractions and that the training set fills at least one minibatch.

    Parameters
    ----------
    n_obs
        Cells in the data.
    train_size, validation_size
        As in :meth:`michigan.TCVAE.train` (``None``: 90 % training, the rest validation).
    batch_size
        Cells per minibatch.

    Returns
    -------
    The number of training cells.

    Examples
    --------
    >>> n_train = check_enough_cells(adata.n_obs, 0.9, None, batch_size=128)
    """
    check_batch_size(batch_size)
    train = DEFAULT_TRAIN_SIZE if train_size is None else _fraction(train_size, "train_size", True)
    if validation_size is not None:
        validation = _fraction(validation_size, "validation_size", False)
        if train + validation > 1:
            raise ValueError(
                f"train_size + validation_size must be at most 1, got {train} + {validation}"
            )
    n_train = ceil(train * n_obs)
    if n_train < MIN_BATCH_SIZE:
        cells = "cell" if n_train == 1 else "cells"
        total = "cell" if n_obs == 1 else "cells"
        raise ValueError(
            f"only {n_train} training {cells} (train_size={train} of {n_obs} {total}); "
            f"training needs at least {MIN_BATCH_SIZE} — use more cells or a larger train_size"
        )
    return n_train
