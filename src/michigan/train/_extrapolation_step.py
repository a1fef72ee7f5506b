"""The extrapolation step of Yadav et al. (2018) for alternating adversarial updates.

Yadav et al. call it a "prediction" step; here it is the extrapolation step, so that
"prediction" names one thing in this package: latent arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


class ExtrapolationStep:
    """Extrapolated parameters of one player of an adversarial game.

    Yadav et al. (2018, *Stabilizing adversarial nets with prediction methods*) update each
    player against the opponent's extrapolated parameters: after the opponent moved from
    ``θ_k`` to ``θ_{k+1}``, the update uses ``θ̄ = θ_{k+1} + s·(θ_{k+1} − θ_k)`` with
    ``s = 1``. Call :meth:`snapshot` just before each optimiser step of the player whose
    parameters are predicted, and evaluate the opponent's loss inside :meth:`lookahead`.

    Parameters
    ----------
    parameters
        The player's parameters.
    step
        The extrapolation factor ``s``.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> extrapolation = ExtrapolationStep(net.parameters())
    >>> extrapolation.snapshot()  # before the optimiser step of `net`
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)  # stands in for the optimiser step
    >>> with extrapolation.lookahead():  # net holds θ + (θ − θ_previous) in here
    ...     pass
    """

    def __init__(self, parameters: Iterable[nn.Parameter], step: float = 1.0):
        self.parameters = list(parameters)
        self.step = step
        self.previous = [p.detach().clone() for p in self.parameters]

    def _follow_device(self) -> None:
        # The training plan may move the parameters (e.g. to a GPU) after this was made.
        if self.previous and self.previous[0].device != self.parameters[0].device:
            self.previous = [p.to(self.parameters[0].device) for p in self.previous]

    @torch.no_grad()
    def snapshot(self) -> None:
        """Remember the current parameters as ``θ_k`` (call before the optimiser step)."""
        self._follow_device()
        torch._foreach_copy_(self.previous, [p.detach() for p in self.parameters])

    @contextmanager
    def lookahead(self) -> Iterator[None]:
        """Within the block the parameters hold ``θ + s·(θ − θ_k)``; they are restored after.

        Losses computed in the block must be back-propagated in it (to the opponent's
        parameters): restoring the parameters in place when the block ends invalidates graphs
        that still hold them, so a later backward raises instead of using stale values.
        """
        self._follow_device()
        with torch.no_grad():
            current = [p.detach().clone() for p in self.parameters]
            delta = torch._foreach_sub(current, self.previous)
            torch._foreach_add_(self.parameters, delta, alpha=self.step)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.parameters, current)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        """The remembered parameters, for checkpoints."""
        return {"previous": [p.clone() for p in self.previous]}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        """Restore the remembered parameters from :meth:`state_dict`."""
        self.previous = [
            value.detach().clone().to(p.device)
            for p, value in zip(self.parameters, state["previous"], strict=True)
        ]
