"""Known answers for the minibatch estimators of the aggregate posterior and the KL split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal

from michigan.module import (
    decompose_kl,
    log_aggregate_posterior,
    mss_weight_matrix,
    pairwise_log_density,
)


@pytest.mark.parametrize(("batch_size", "n_obs"), [(3, 3), (5, 100), (64, 10_000)])
def test_mss_weight_matrix_rows_sum_to_one_with_own_term_on_the_diagonal(batch_size, n_obs):
    weights = mss_weight_matrix(batch_size, n_obs, dtype=torch.float64)
    assert torch.allclose(weights.sum(1), torch.ones(batch_size, dtype=torch.float64))
    assert torch.allclose(weights.diagonal(), torch.full((batch_size,), 1 / n_obs).double())
    stratum = 1 / (batch_size - 1) - 1 / n_obs
    for row in weights:
        others = row[~torch.isclose(row, torch.tensor(1 / n_obs).double())]
        n_stratum = torch.isclose(others, torch.tensor(stratum).double()).sum()
        assert n_stratum == 1 or (stratum == 1 / n_obs)
        if batch_size > 3:
            rest = torch.isclose(row, torch.tensor(1 / (batch_size - 1)).double()).sum()
            assert rest == batch_size - 2


def test_mss_weight_matrix_column_zero_is_not_special():
    # The widely copied reference puts 1/N in column 0 of every row; here it is the diagonal.
    weights = mss_weight_matrix(6, 1000)
    assert not torch.allclose(weights[:, 0], torch.full((6,), 1 / 1000))


@pytest.mark.parametrize("batch_size", [0, 1, 2])
def test_mss_needs_three_cells(batch_size):
    with pytest.raises(ValueError, match="at least 3 cells"):
        mss_weight_matrix(batch_size, 100)


def _exact_log_aggregate_posterior(z: np.ndarray, loc: np.ndarray, scale: np.ndarray):
    """log (1/N) Σ_n q(z | x_n) by brute force, with scipy."""
    densities = np.array(
        [np.prod(norm.pdf(z, loc=loc[n], scale=scale[n]), axis=-1) for n in range(len(loc))]
    )
    return np.log(densities.mean(0))


def test_minibatch_estimates_agree_with_the_exact_aggregate_posterior():
    """MSS is unbiased for q(z) over random minibatches that contain the sampled cell."""
    rng = np.random.default_rng(0)
    n_obs, batch_size, n_latent = 12, 4, 2
    loc = rng.normal(size=(n_obs, n_latent))
    scale = rng.uniform(0.5, 1.5, size=(n_obs, n_latent))
    z0 = loc[0] + scale[0] * rng.normal(size=n_latent)
    exact = _exact_log_aggregate_posterior(z0[None], loc, scale)[0]

    estimates = {"mss": [], "mws": []}
    for _ in range(4000):
        others = rng.choice(np.arange(1, n_obs), size=batch_size - 1, replace=False)
        members = np.concatenate([[0], others])
        qz = Normal(torch.tensor(loc[members]), torch.tensor(scale[members]))
        z = torch.tensor(np.repeat(z0[None], batch_size, axis=0))
        log_density = pairwise_log_density(z, qz)
        for estimator in estimates:
            log_qz, _ = log_aggregate_posterior(log_density, n_obs, estimator)
            estimates[estimator].append(log_qz[0].item())
    mss = math.log(np.mean(np.exp(estimates["mss"])))
    assert mss == pytest.approx(exact, abs=0.05)
    # MWS weighs every term 1/(N·M): on average it equals log q(z) − log N, which is
    # a constant offset that leaves the gradient of the total correlation unchanged.
    mws = math.log(np.mean(np.exp(estimates["mws"])))
    own = norm.pdf(z0, loc[0], scale[0]).prod()
    others_mean = np.mean([norm.pdf(z0, loc[n], scale[n]).prod() for n in range(1, n_obs)], axis=0)
    expected_mws = math.log((own + (batch_size - 1) * others_mean) / (n_obs * batch_size))
    assert mws == pytest.approx(expected_mws, abs=0.05)


def test_mws_matches_its_formula_computed_independently():
    rng = np.random.default_rng(1)
    loc = rng.normal(size=(5, 3))
    scale = rng.uniform(0.5, 2.0, size=(5, 3))
    z = loc + scale * rng.normal(size=(5, 3))
    n_obs = 50
    log_density = pairwise_log_density(
        torch.tensor(z), Normal(torch.tensor(loc), torch.tensor(scale))
    )
    log_qz, log_marginals = log_aggregate_posterior(log_density, n_obs, "mws")
    for i in range(5):
        joint = sum(norm.pdf(z[i], loc[m], scale[m]).prod() for m in range(5))
        assert log_qz[i].item() == pytest.approx(np.log(joint / (5 * n_obs)), rel=1e-9)
        for j in range(3):
            marginal = sum(norm.pdf(z[i, j], loc[m, j], scale[m, j]) for m in range(5))
            assert log_marginals[i, j].item() == pytest.approx(
                np.log(marginal / (5 * n_obs)), rel=1e-9
            )


def test_unknown_estimator_is_a_clear_error():
    log_density = torch.zeros(4, 4, 2)
    with pytest.raises(ValueError, match="unknown tc_estimator 'foo'"):
        log_aggregate_posterior(log_density, 10, "foo")


def _posteriors_of(codes: torch.Tensor, scale: float = 0.3) -> Normal:
    return Normal(codes, torch.full_like(codes, scale))


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_total_correlation_is_near_zero_for_independent_codes_and_positive_for_correlated(
    estimator,
):
    generator = torch.Generator().manual_seed(0)
    n_cells, n_obs = 512, 512
    independent = torch.randn(n_cells, 2, generator=generator)
    shared = torch.randn(n_cells, 1, generator=generator)
    correlated = torch.cat(
        [shared, shared + 0.05 * torch.randn(n_cells, 1, generator=generator)], dim=1
    )
    tc = {}
    for name, codes in {"independent": independent, "correlated": correlated}.items():
        qz = _posteriors_of(codes.double())
        terms = decompose_kl(qz.sample(), qz, n_obs=n_obs, estimator=estimator)
        tc[name] = terms.total_correlation.mean().item()
    # MWS carries a constant offset (its weights do not sum to 1), so only MSS is compared
    # with zero; both must rank the correlated codes clearly above the independent ones.
    if estimator == "mss":
        assert abs(tc["independent"]) < 0.1
    assert tc["correlated"] - tc["independent"] > 0.5


def test_decomposition_sums_to_the_monte_carlo_kl():
    generator = torch.Generator().manual_seed(3)
    loc = torch.randn(32, 4, generator=generator, dtype=torch.float64)
    scale = torch.rand(32, 4, generator=generator, dtype=torch.float64) + 0.3
    qz = Normal(loc, scale)
    z = qz.sample()
    terms = decompose_kl(z, qz, n_obs=1000)
    total = terms.mutual_info + terms.total_correlation + terms.dimension_wise_kl
    monte_carlo_kl = qz.log_prob(z).sum(-1) - Normal(0.0, 1.0).log_prob(z).sum(-1)
    assert torch.allclose(total, monte_carlo_kl)
