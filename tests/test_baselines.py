from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from michigan.baselines import PPCA, GaussianMixtureGenerator
from michigan.metrics import mig

N_GENES, N_LATENT, NOISE_VAR = 20, 3, 0.25


@pytest.fixture(scope="module")
def ppca_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells drawn from the PPCA model itself: x = W z + μ + ε."""
    rng = np.random.default_rng(0)
    loadings = rng.normal(size=(N_GENES, N_LATENT)) * np.array([3.0, 2.0, 1.5])
    mean = rng.normal(size=N_GENES)
    codes = rng.standard_normal((5000, N_LATENT))
    noise = np.sqrt(NOISE_VAR) * rng.standard_normal((5000, N_GENES))
    return codes @ loadings.T + mean + noise, loadings, mean


def _projector(basis: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(basis)
    return q @ q.T


def test_ppca_recovers_noise_variance_and_subspace(ppca_data):
    X, loadings, mean = ppca_data
    ppca = PPCA(n_components=N_LATENT).fit(X)
    assert ppca.noise_variance_ == pytest.approx(NOISE_VAR, rel=0.05)
    np.testing.assert_allclose(ppca.mean_, mean, atol=0.1)
    subspace_error = np.linalg.norm(_projector(ppca.loadings_) - _projector(loadings))
    assert subspace_error < 0.05
    model_cov = ppca.loadings_ @ ppca.loadings_.T + ppca.noise_variance_ * np.eye(N_GENES)
    true_cov = loadings @ loadings.T + NOISE_VAR * np.eye(N_GENES)
    assert np.linalg.norm(model_cov - true_cov) / np.linalg.norm(true_cov) < 0.05
    np.testing.assert_allclose(ppca.components_ @ ppca.components_.T, np.eye(N_LATENT), atol=1e-10)


def test_ppca_posterior_matches_closed_forms(ppca_data):
    X, _, _ = ppca_data
    ppca = PPCA(n_components=N_LATENT).fit(X)
    means, variances = ppca.transform(X[:50], return_var=True)
    W, s2 = ppca.loadings_, ppca.noise_variance_
    # Tipping & Bishop: M⁻¹ Wᵀ (x − μ), σ² M⁻¹ with M = WᵀW + σ² I ...
    m_matrix = W.T @ W + s2 * np.eye(N_LATENT)
    expected = np.linalg.solve(m_matrix, W.T @ (X[:50] - ppca.mean_).T).T
    np.testing.assert_allclose(means, expected, atol=1e-10)
    # ... equals Gaussian conditioning of the joint: Wᵀ C⁻¹ (x − μ), I − Wᵀ C⁻¹ W.
    model_cov = W @ W.T + s2 * np.eye(N_GENES)
    conditioned = np.linalg.solve(model_cov, (X[:50] - ppca.mean_).T).T @ W
    np.testing.assert_allclose(means, conditioned, atol=1e-8)
    posterior_cov = np.eye(N_LATENT) - W.T @ np.linalg.solve(model_cov, W)
    np.testing.assert_allclose(ppca.posterior_covariance_, posterior_cov, atol=1e-10)
    np.testing.assert_allclose(variances, np.tile(np.diag(posterior_cov), (50, 1)))
    # with R = I the posterior is diagonal: variances σ² / λ_j
    np.testing.assert_allclose(variances[0], s2 / ppca.explained_variance_)


def test_ppca_sparse_input_matches_dense(ppca_data):
    X, _, _ = ppca_data
    X = np.clip(X[:800], 0, None)
    dense = PPCA(n_components=N_LATENT).fit(X)
    from_sparse = PPCA(n_components=N_LATENT).fit(sparse.csr_matrix(X))
    assert from_sparse.noise_variance_ == pytest.approx(dense.noise_variance_, rel=1e-6)
    np.testing.assert_allclose(
        np.abs(from_sparse.transform(sparse.csr_matrix(X[:20]))),
        np.abs(dense.transform(X[:20])),
        atol=1e-6,
    )


def test_ppca_sampling_and_reconstruction(ppca_data):
    X, _, _ = ppca_data
    ppca = PPCA(n_components=N_LATENT).fit(X)
    samples = ppca.sample(5000, seed=0)
    assert samples.shape == (5000, N_GENES)
    np.testing.assert_allclose(samples.mean(axis=0), X.mean(axis=0), atol=0.25)
    data_cov = np.cov(X, rowvar=False)
    assert (
        np.linalg.norm(np.cov(samples, rowvar=False) - data_cov) / np.linalg.norm(data_cov) < 0.1
    )
    np.testing.assert_array_equal(ppca.sample(10, seed=3), ppca.sample(10, seed=3))
    # the posterior mean of a noise-free cell W z + μ shrinks z by M⁻¹ WᵀW
    codes = np.random.default_rng(4).standard_normal((10, N_LATENT))
    W = ppca.loadings_
    shrinkage = np.linalg.solve(W.T @ W + ppca.noise_variance_ * np.eye(N_LATENT), W.T @ W)
    np.testing.assert_allclose(
        ppca.transform(ppca.inverse_transform(codes)), codes @ shrinkage.T, atol=1e-8
    )
    residual = X - ppca.inverse_transform(ppca.transform(X))
    assert residual.var() < 1.2 * NOISE_VAR


def test_ppca_posterior_feeds_mutual_information():
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 3, size=(1500, 2))
    loadings = np.zeros((12, 2))
    loadings[:6, 0], loadings[6:, 1] = 2.0, 1.0  # distinct variances: PCs align with factors
    X = factors @ loadings.T + 0.3 * rng.standard_normal((1500, 12))
    means, variances = PPCA(n_components=2).fit(X).transform(X, return_var=True)
    assert mig(means, factors, posterior_var=variances) > 0.9


def test_ppca_errors(ppca_data):
    X, _, _ = ppca_data
    with pytest.raises(ValueError, match="n_components must be between 1 and 19"):
        PPCA(n_components=N_GENES).fit(X)
    with pytest.raises(ValueError, match="at least 2 cells"):
        PPCA(n_components=2).fit(X[:1])
    bad = X[:100].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        PPCA(n_components=2).fit(bad)
    with pytest.raises(NotFittedError):
        PPCA().transform(X)
    ppca = PPCA(n_components=2).fit(X[:200])
    with pytest.raises(ValueError, match=r"X must have shape \(n, 20\)"):
        ppca.transform(X[:, :5])
    with pytest.raises(ValueError, match=r"Z must have shape \(n, 2\)"):
        ppca.inverse_transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        ppca.sample(0)


# --- Gaussian-mixture generator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def three_clusters() -> np.ndarray:
    rng = np.random.default_rng(2)
    centres = 8.0 * rng.standard_normal((3, 10))
    labels = rng.integers(0, 3, 900)
    return centres[labels] + rng.standard_normal((900, 10))


def test_bic_picks_the_true_number_of_components(three_clusters):
    gmm = GaussianMixtureGenerator(n_pcs=5, n_components=(1, 2, 3, 4, 5)).fit(three_clusters)
    assert gmm.n_components_ == 3
    assert gmm.bic_.idxmin() == 3
    assert list(gmm.bic_.index) == [1, 2, 3, 4, 5]


def test_gmm_samples_match_training_moments(three_clusters):
    gmm = GaussianMixtureGenerator(n_pcs=10, n_components=(2, 3, 4)).fit(three_clusters)
    samples = gmm.sample(4000, seed=0)
    assert samples.shape == (4000, 10)
    np.testing.assert_allclose(samples.mean(axis=0), three_clusters.mean(axis=0), atol=0.5)
    data_cov = np.cov(three_clusters, rowvar=False)
    relative = np.linalg.norm(np.cov(samples, rowvar=False) - data_cov) / np.linalg.norm(data_cov)
    assert relative < 0.15
    # shuffled, not grouped by component; seeded
    first_half = samples[:2000] @ np.ones(10)
    assert np.corrcoef(first_half[:-1], first_half[1:])[0, 1] < 0.2
    np.testing.assert_array_equal(gmm.sample(20, seed=1), gmm.sample(20, seed=1))
    assert not np.array_equal(gmm.sample(20, seed=1), gmm.sample(20, seed=2))


def test_gmm_sparse_subsample_and_clipping():
    rng = np.random.default_rng(3)
    counts = rng.poisson(np.r_[np.full(10, 0.3), np.full(10, 5.0)], size=(600, 20)).astype(float)
    gmm = GaussianMixtureGenerator(n_pcs=4, n_components=2, max_cells=300)
    gmm.fit(sparse.csr_matrix(counts))
    assert gmm.n_components_ == 2 and gmm.pca_.n_components_ == 4
    samples = gmm.sample(500, seed=0, clip_negative=True)
    assert samples.min() >= 0
    np.testing.assert_allclose(samples.mean(axis=0), counts.mean(axis=0), atol=0.4)


def test_gmm_errors(three_clusters):
    with pytest.raises(ValueError, match="n_components must be positive"):
        GaussianMixtureGenerator(n_components=(0, 1)).fit(three_clusters)
    with pytest.raises(ValueError, match="n_components must be positive"):
        GaussianMixtureGenerator(n_components=()).fit(three_clusters)
    with pytest.raises(ValueError, match="3 cells cannot fit a mixture of 5 components"):
        GaussianMixtureGenerator(n_components=5).fit(three_clusters[:3])
    with pytest.raises(ValueError, match="must be 2-D"):
        GaussianMixtureGenerator().fit(three_clusters[0])
    bad = three_clusters.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        GaussianMixtureGenerator().fit(bad)
    with pytest.raises(NotFittedError):
        GaussianMixtureGenerator().sample(3)
    gmm = GaussianMixtureGenerator(n_pcs=2, n_components=1).fit(three_clusters)
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        gmm.sample(0)
