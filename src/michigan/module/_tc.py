"""Minibatch estimators of the aggregate posterior and the β-TCVAE decomposition of the KL.

With one sample ``z_i ~ q(z | x_i)`` per cell of a minibatch of ``M`` cells drawn from a data
set of ``N`` cells, the aggregate posterior ``q(z) = (1/N) Σ_n q(z | x_n)`` is estimated from
the matrix of pairwise log densities ``L_im = log q(z_i | x_m)`` (Chen et al., 2018):

- minibatch weighted sampling (MWS): ``log q̂(z_i) = logsumexp_m L_im − log(N·M)``;
- minibatch stratified sampling (MSS): ``log q̂(z_i) = logsumexp_m (log W_im + L_im)`` with the
  importance weights of :func:`mss_weight_matrix`.

The same weights give the marginals ``log q̂(z_ij)`` from the per-dimension densities.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch.distributions import Normal

#: Estimators of the aggregate posterior: minibatch-stratified (``"mss"``) or -weighted
#: (``"mws"``) sampling (Chen et al., 2018).
TC_ESTIMATORS = ("mss", "mws")
#: The estimators of :data:`TC_ESTIMATORS`, as a type.
TcEstimator = Literal["mss", "mws"]


def mss_weight_matrix(
    batch_size: int, n_obs: int, dtype=torch.float32, device=None
) -> torch.Tensor:
    """Importance weights of minibatch stratified sampling.

    Row ``i`` weighs the densities that the minibatch's cells put on the sample of cell ``i``:
    the cell's own term stands for itself (``1/N``); one other cell, the next one in the
    minibatch, stands for the stratum of the data set left over (``1/(M−1) − 1/N``); each of
    the remaining ``M − 2`` cells stands for ``1/(M−1)``. Every row sums to 1.

    Parameters
    ----------
    batch_size
        Number of cells in the minibatch, ``M ≥ 3``.
    n_obs
        Number of cells in the training set, ``N ≥ M``.
    dtype, device
        Of the returned tensor.

    Returns
    -------
    Tensor of shape ``(M, M)``.

    Examples
    --------
    >>> w = mss_weight_matrix(4, 100)
    >>> torch.allclose(w.sum(1), torch.ones(4))
    True
    """
    if batch_size < 3:
        raise ValueError(
            f"minibatch stratified sampling needs at least 3 cells per minibatch, got "
            f"{batch_size}; use batch_size >= 3 (128 is typical) or tc_estimator='mws'"
        )
    if n_obs < batch_size:
        raise ValueError(
            f"the training set ({n_obs} cells) is smaller than the minibatch ({batch_size}); "
            "use a smaller batch_size"
        )
    m, n = batch_size, n_obs
    weights = torch.full((m, m), 1.0 / (m - 1), dtype=dtype, device=device)
    rows = torch.arange(m, device=device)
    weights[rows, rows] = 1.0 / n
    weights[rows, (rows + 1) % m] = 1.0 / (m - 1) - 1.0 / n
    return weights


def pairwise_log_density(z: torch.Tensor, qz: Normal) -> torch.Tensor:
    """Per-dimension log densities of every sample under every cell's posterior.

    Parameters
    ----------
    z
        Samples of shape ``(M, d)``, one per cell.
    qz
        Diagonal Gaussian posteriors with ``loc`` and ``scale`` of shape ``(M, d)``.

    Returns
    -------
    Tensor of shape ``(M, M, d)`` whose entry ``[i, m, j]`` is ``log q(z_ij | x_m)``.
    """
    loc = qz.loc.unsqueeze(0)
    scale = qz.scale.unsqueeze(0)
    return Normal(loc, scale).log_prob(z.unsqueeze(1))


def log_aggregate_posterior(
    log_density: torch.Tensor, n_obs: int, estimator: TcEstimator = "mss"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of the joint and marginal log aggregate posterior.

    Parameters
    ----------
    log_density
        Output of :func:`pairwise_log_density`, shape ``(M, M, d)``.
    n_obs
        Number of cells in the training set ``N``.
    estimator
        ``"mss"`` (minibatch stratified sampling) or ``"mws"`` (minibatch weighted sampling).

    Returns
    -------
    ``log q̂(z_i)`` of shape ``(M,)`` and ``log q̂(z_ij)`` of shape ``(M, d)``.
    """
    batch_size = log_density.shape[0]
    if estimator == "mss":
        log_weights = mss_weight_matrix(
            batch_size, n_obs, dtype=log_density.dtype, device=log_density.device
        ).log()
        log_qz = torch.logsumexp(log_weights + log_density.sum(-1), dim=1)
        log_qz_marginals = torch.logsumexp(log_weights.unsqueeze(-1) + log_density, dim=1)
    elif estimator == "mws":
        log_norm = math.log(batch_size * n_obs)
        log_qz = torch.logsumexp(log_density.sum(-1), dim=1) - log_norm
        log_qz_marginals = torch.logsumexp(log_density, dim=1) - log_norm
    else:
        raise ValueError(
            f"unknown tc_estimator {estimator!r}; choose one of {', '.join(TC_ESTIMATORS)}"
        )
    return log_qz, log_qz_marginals


class KLDecomposition(NamedTuple):
    """Per-cell terms of the decomposed KL divergence; their sum is the Monte-Carlo KL."""

    mutual_info: torch.Tensor
    total_correlation: torch.Tensor
    dimension_wise_kl: torch.Tensor


def decompose_kl(
    z: torch.Tensor,
    qz: Normal,
    n_obs: int,
    estimator: TcEstimator = "mss",
) -> KLDecomposition:
    """Split ``KL(q(z|x) ‖ p(z))`` into index-code MI, total correlation and dimension-wise KL.

    For each cell ``i`` of the minibatch, with a standard normal prior ``p``:

    - ``MI_i    = log q(z_i | x_i) − log q̂(z_i)``
    - ``TC_i    = log q̂(z_i) − Σ_j log q̂(z_ij)``
    - ``dimKL_i = Σ_j log q̂(z_ij) − log p(z_i)``

    so that ``MI_i + TC_i + dimKL_i = log q(z_i | x_i) − log p(z_i)``.

    Parameters
    ----------
    z
        One posterior sample per cell, shape ``(M, d)``.
    qz
        The cells' diagonal Gaussian posteriors.
    n_obs
        Number of cells in the training set.
    estimator
        ``"mss"`` or ``"mws"``, see :func:`log_aggregate_posterior`.

    Returns
    -------
    The three per-cell terms, each of shape ``(M,)``.

    Examples
    --------
    >>> qz = Normal(torch.zeros(8, 2), torch.ones(8, 2))
    >>> terms = decompose_kl(qz.sample(), qz, n_obs=100)
    >>> terms.total_correlation.shape
    torch.Size([8])
    """
    log_density = pairwise_log_density(z, qz)
    log_qz, log_qz_marginals = log_aggregate_posterior(log_density, n_obs, estimator)
    log_qz_given_x = qz.log_prob(z).sum(-1)
    log_pz = Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(-1)
    sum_log_marginals = log_qz_marginals.sum(-1)
    return KLDecomposition(
        mutual_info=log_qz_given_x - log_qz,
        total_correlation=log_qz - sum_log_marginals,
        dimension_wise_kl=sum_log_marginals - log_pz,
    )
