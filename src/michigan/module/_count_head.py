"""The generator's count head: an expected profile, and cells drawn from a count likelihood."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

CountHeadLikelihood = Literal["nb", "poisson"]
#: Likelihoods of :class:`CountHead`: negative binomial (per-gene dispersion) or Poisson.
COUNT_HEAD_LIKELIHOODS = ("nb", "poisson")


class CountHead(nn.Module):
    """The generator's output head that draws each cell's counts, as sequencing does.

    The head maps the last hidden layer to the proportions ``p = softmax(W h + b)`` of a cell's
    counts over the genes. Without a library it returns the expected profile
    ``log1p(target_sum · p)``. Given each cell's library size ``L`` it draws the cell's counts

    ``c ~ NB(mean = L · p, dispersion θ)`` (``θ`` learned per gene), or ``Poisson(L · p)``,

    and returns them log-normalised as real cells are, ``log1p(target_sum · c / Σc)``: exact
    zeros and count noise come from the draw, so the networks only learn the expected profiles.
    Gradients reach ``p`` and ``θ`` through the gamma draw of the negative binomial
    (``λ ~ Gamma(θ, θ / μ)``, reparameterised) and through the Poisson draw ``c ~ Poisson(λ)``
    as if it were its mean (straight-through: the forward pass has the integer ``c``, the
    backward pass the gradient of ``λ``).

    Parameters
    ----------
    n_input
        Width of the last hidden layer.
    n_output
        Number of genes.
    target_sum
        The library of every cell after normalisation (1e4, as ``sc.pp.normalize_total``).
    likelihood
        ``"nb"`` (negative binomial, the dispersion learned with the generator) or
        ``"poisson"``.
    initial_dispersion
        The dispersion ``θ`` every gene starts at (``"nb"`` only; variance ``μ + μ²/θ``).

    Examples
    --------
    >>> head = CountHead(n_input=32, n_output=100)
    >>> hidden, library = torch.randn(4, 32), torch.tensor([500.0, 800.0, 1e3, 2e3])
    >>> head(hidden).shape  # expected profiles
    torch.Size([4, 100])
    >>> cells = head(hidden, library)  # drawn cells, log-normalised
    >>> torch.expm1(cells.double()).sum(1).round()
    tensor([10000., 10000., 10000., 10000.], dtype=torch.float64)
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        target_sum: float = 1e4,
        likelihood: CountHeadLikelihood = "nb",
        initial_dispersion: float = 10.0,
    ):
        super().__init__()
        if not target_sum > 0:
            raise ValueError(f"target_sum must be a positive number, got {target_sum}")
        if likelihood not in COUNT_HEAD_LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; choose 'nb' or 'poisson'")
        if not initial_dispersion > 0:
            raise ValueError(
                f"initial_dispersion must be a positive number, got {initial_dispersion}"
            )
        self.linear = nn.Linear(n_input, n_output)
        self.target_sum = float(target_sum)
        self.likelihood = likelihood
        self.log_dispersion = nn.Parameter(
            torch.full((n_output,), float(initial_dispersion)).log(),
            requires_grad=likelihood == "nb",
        )

    @property
    def dispersion(self) -> torch.Tensor | None:
        """The per-gene dispersion ``θ`` of the negative binomial (``None`` for Poisson)."""
        return self.log_dispersion.exp() if self.likelihood == "nb" else None

    def proportions(self, hidden: torch.Tensor) -> torch.Tensor:
        """Each cell's expected share of its counts per gene (rows sum to 1)."""
        return torch.softmax(self.linear(hidden), dim=-1)

    def forward(self, hidden: torch.Tensor, library: torch.Tensor | None = None) -> torch.Tensor:
        """Expected profiles (no ``library``) or drawn cells, log-normalised, ``(n, n_output)``.

        Parameters
        ----------
        hidden
            The generator's last hidden layer, ``(n, n_input)``.
        library
            Each cell's library size (total counts), ``(n,)``.
        """
        shares = self.proportions(hidden)
        if library is None:
            return torch.log1p(self.target_sum * shares)
        counts = self.sample_counts(shares * library.unsqueeze(-1))
        total = counts.sum(-1, keepdim=True).clamp_min(1.0)
        return torch.log1p(counts * (self.target_sum / total))

    def sample_counts(self, mean: torch.Tensor) -> torch.Tensor:
        """Counts with the given means, differentiable straight-through (see the class docs)."""
        rate = mean
        if self.likelihood == "nb":
            theta = self.dispersion.expand_as(mean)
            rate = torch.distributions.Gamma(theta, theta / mean.clamp_min(1e-8)).rsample()
        return rate + (torch.poisson(rate.detach()) - rate).detach()
