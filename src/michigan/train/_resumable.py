"""Training-plan hooks that make a second ``train()`` and a resumed run train like the first."""

from __future__ import annotations

import random

import numpy as np
import torch

#: Key of the random-number-generator states in a Lightning checkpoint.
RNG_STATES_KEY = "michigan_rng_states"


def collect_rng_states() -> dict:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators.

    Only tensors and Python scalars, so that a checkpoint holding them loads with
    ``torch.load(..., weights_only=True)`` (Lightning's default).
    """
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    states = {
        "python": random.getstate(),
        "numpy": (
            str(name),
            torch.from_numpy(keys.astype(np.int64)),
            int(position),
            int(has_gauss),
            float(cached_gaussian),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore what :func:`collect_rng_states` returned."""
    random.setstate(states["python"])
    name, keys, position, has_gauss, cached_gaussian = states["numpy"]
    numpy_state = (name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian)
    np.random.set_state(numpy_state)  # noqa: NPY002
    torch.set_rng_state(states["torch"])
    if "torch_cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch_cuda"])


class ResumableTrainingMixin:
    """Mix into a Lightning training plan (before the plan class) so that every fit trains.

    * ``on_fit_start`` puts the networks in training mode. scvi-tools leaves a model in
      evaluation mode after ``train()``, and Lightning keeps the modes it finds, so without
      this a second ``train()`` (or a resumed one) would run with batch-norm statistics
      frozen and dropout off.
    * A checkpoint also stores the global random-number-generator states, restored when the
      resumed run loads it, so that on CPU resuming gives the same weights as an
      uninterrupted run (same minibatches, same posterior samples).
    """

    def on_fit_start(self) -> None:
        """Put every network in training mode."""
        super().on_fit_start()
        self.train()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store the generator states with the checkpoint."""
        super().on_save_checkpoint(checkpoint)
        checkpoint[RNG_STATES_KEY] = collect_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the stored generator states.

        Lightning loads the checkpoint before it creates the first data iterator of the
        resumed run (which draws from the global generator, as the uninterrupted run does
        after saving), so restoring here replays the same draws.
        """
        super().on_load_checkpoint(checkpoint)
        if RNG_STATES_KEY in checkpoint:
            set_rng_states(checkpoint[RNG_STATES_KEY])
