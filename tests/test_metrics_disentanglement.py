from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, sparse, stats
from scipy.special import logsumexp
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from michigan.metrics import (
    factorvae_score,
    knn_factor_prediction,
    mig,
    mutual_info,
    spearman_correlation,
    spearman_gap,
)
from michigan.metrics._mutual_info import posterior_mixture_entropy

N_CELLS = 2000


@pytest.fixture(scope="module")
def factors() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice(["b1", "b2"], N_CELLS)),
            "path": rng.choice(["A", "B"], N_CELLS),
            "step": rng.integers(1, 21, N_CELLS),
            "lib": rng.lognormal(11, 0.2, N_CELLS),
        }
    )


@pytest.fixture(scope="module")
def copied_codes(factors: pd.DataFrame) -> np.ndarray:
    """Standardised copies of the four factors, then two pure-noise latents."""
    rng = np.random.default_rng(1)
    copies = np.column_stack(
        [
            factors["batch"].cat.codes,
            factors["path"] == "B",
            factors["step"],
            np.log(factors["lib"]),
        ]
    ).astype(float)
    copies = (copies - copies.mean(axis=0)) / copies.std(axis=0)
    return np.column_stack([copies, rng.standard_normal((N_CELLS, 2))])


@pytest.fixture(scope="module")
def rotated_codes(copied_codes: np.ndarray) -> np.ndarray:
    return copied_codes @ stats.ortho_group.rvs(6, random_state=1)


# --- known answers ------------------------------------------------------------------------


def test_copied_factors_score_near_one(copied_codes, factors):
    assert mig(copied_codes, factors) > 0.9
    assert mig(copied_codes, factors, posterior_var=np.full(6, 0.05**2)) > 0.9
    assert spearman_gap(copied_codes, factors) > 0.9
    assert factorvae_score(copied_codes, factors) > 0.95


def test_random_rotation_lowers_all_scores(copied_codes, rotated_codes, factors):
    assert mig(rotated_codes, factors) < mig(copied_codes, factors) - 0.5
    assert spearman_gap(rotated_codes, factors) < spearman_gap(copied_codes, factors) - 0.5
    assert factorvae_score(rotated_codes, factors) < factorvae_score(copied_codes, factors) - 0.2


def test_per_factor_gaps_identify_the_uncaptured_factor(copied_codes, factors):
    codes = copied_codes.copy()
    codes[:, 1] = codes[:, 0]  # path's latent now duplicates batch's: batch gap 0, path lost
    score, gaps = mig(codes, factors, return_per_factor=True)
    assert list(gaps.index) == list(factors.columns)
    assert gaps["batch"] < 0.05 and gaps["path"] < 0.05
    assert gaps["step"] > 0.9 and gaps["lib"] > 0.9
    assert score == pytest.approx(gaps.mean())
    _, spearman_gaps = spearman_gap(codes, factors, return_per_factor=True)
    assert spearman_gaps["batch"] < 0.05 and spearman_gaps["step"] > 0.9


def test_mixture_mutual_information_matches_closed_form():
    # z | v ~ N(delta * v, sd²), v ~ Bernoulli(1/2): I(z; v) = H(mixture) - H(N(0, sd²)).
    delta, sd = 2.0, 1.0

    def density(z):
        return 0.5 * stats.norm.pdf(z, 0, sd) + 0.5 * stats.norm.pdf(z, delta, sd)

    mixture_entropy = integrate.quad(lambda z: -density(z) * np.log(density(z)), -15, 17)[0]
    exact = (mixture_entropy - 0.5 * np.log(2 * np.pi * np.e * sd**2)) / np.log(2)
    rng = np.random.default_rng(3)
    v = rng.integers(0, 2, 4000)
    posterior = mutual_info(delta * v[:, None], v, posterior_var=np.full(1, sd**2)).iloc[0, 0]
    # The estimator's SD is about 0.016 at 4,000 cells: 0.05 is three SDs.
    assert posterior == pytest.approx(exact, abs=0.05)
    # One posterior sample per cell, binned, agrees with it.
    sample = delta * v + sd * rng.standard_normal(v.size)
    assert mutual_info(sample[:, None], v).iloc[0, 0] == pytest.approx(exact, abs=0.05)


def test_chunked_mixture_entropy_matches_brute_force():
    rng = np.random.default_rng(5)
    means = 3.0 * rng.standard_normal((300, 2))
    variances = rng.uniform(1e-4, 1.0, (300, 2))
    labels = rng.integers(0, 3, 300)
    # tiny chunks: the estimator walks 300 cells in many blocks
    marginal, (conditional,) = posterior_mixture_entropy(
        means, variances, [labels], seed=7, chunk_bytes=8 * 300 * 2 * 7
    )
    samples = means + np.sqrt(variances) * np.random.default_rng(7).standard_normal((300, 2))
    for j in range(2):
        log_q = stats.norm.logpdf(samples[:, j, None], means[None, :, j], np.sqrt(variances[:, j]))
        expected = -np.mean(logsumexp(log_q, axis=1) - np.log(300))
        assert marginal[j] == pytest.approx(expected, abs=1e-6)
        within = [
            logsumexp(log_q[i, labels == labels[i]]) - np.log(np.sum(labels == labels[i]))
            for i in range(300)
        ]
        assert conditional[j] == pytest.approx(-np.mean(within), abs=1e-6)


def test_posterior_ignores_a_collapsed_latent_that_binned_means_overrate():
    rng = np.random.default_rng(4)
    batch = rng.integers(0, 2, 3000)
    means = 0.01 * batch[:, None] + 0.001 * rng.standard_normal((3000, 1))  # prior-like latent
    binned = mutual_info(means, batch).iloc[0, 0]
    posterior = mutual_info(means, batch, posterior_var=np.ones((3000, 1))).iloc[0, 0]
    assert binned > 0.9
    assert abs(posterior) < 0.02


def test_mutual_info_frame_and_anndata_agree(copied_codes, factors):
    adata = ad.AnnData(np.zeros((N_CELLS, 1)), obs=factors.set_index(factors.index.astype(str)))
    adata.obsm["X_codes"] = copied_codes
    adata.obsm["X_codes_var"] = np.full_like(copied_codes, 0.01)
    from_adata = mutual_info(
        adata, ["batch", "step"], latent_key="X_codes", posterior_var="X_codes_var", max_cells=500
    )
    from_arrays = mutual_info(
        copied_codes, factors[["batch", "step"]], posterior_var=0.01 * np.ones(6), max_cells=500
    )
    pd.testing.assert_frame_equal(from_adata, from_arrays)
    assert list(from_adata.columns) == ["batch", "step"]
    assert list(from_adata.index) == [f"latent_{j}" for j in range(6)]
    assert from_adata.loc["latent_2", "step"] > 0.9


def test_continuous_factor_is_binned_into_n_bins(copied_codes, factors):
    quartiles = mutual_info(copied_codes, factors["lib"], n_bins=4).iloc[3, 0]
    tenths = mutual_info(copied_codes, factors["lib"], n_bins=10).iloc[3, 0]
    assert quartiles > 0.9 and tenths > 0.9
    # more bins of the factor need more information: H(v) grows from log 4 to log 10
    noisy = copied_codes[:, 3:4] + 0.5 * np.random.default_rng(0).standard_normal((N_CELLS, 1))
    assert (
        mutual_info(noisy, factors["lib"], n_bins=10).iloc[0, 0]
        < mutual_info(noisy, factors["lib"], n_bins=4).iloc[0, 0]
    )


def test_mixture_estimator_is_seeded_and_subsamples(copied_codes, factors):
    variances = np.full(6, 0.1)
    first = mutual_info(copied_codes, factors, posterior_var=variances, max_cells=300, seed=1)
    again = mutual_info(copied_codes, factors, posterior_var=variances, max_cells=300, seed=1)
    other = mutual_info(copied_codes, factors, posterior_var=variances, max_cells=300, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_spearman_correlation_signs_and_monotone_invariance(factors):
    step = factors["step"].to_numpy(dtype=float)
    codes = np.column_stack([np.exp(step / 5), -step, np.ones_like(step)])
    rho = spearman_correlation(codes, factors[["step"]])
    assert rho.iloc[0, 0] == pytest.approx(1.0)
    assert rho.iloc[1, 0] == pytest.approx(-1.0)
    assert rho.iloc[2, 0] == 0.0  # a constant latent correlates with nothing


def test_spearman_of_a_two_level_factor_is_capped_whatever_the_scale():
    """A latent that separates a two-level factor has |ρ| = sqrt(3 p (1 - p)), not 1.

    A faint latent (a millionth of the scale) that separates it as well ties with a strong one,
    so that factor's gap is 0: the Spearman gap cannot tell a latent's size.
    """
    rng = np.random.default_rng(0)
    share = 0.3
    level = (np.arange(N_CELLS) < share * N_CELLS).astype(float)
    strong = level + rng.uniform(0, 0.5, N_CELLS)
    faint = 1e-6 * (level + rng.uniform(0, 0.5, N_CELLS))
    noise = rng.standard_normal(N_CELLS)
    rho = spearman_correlation(np.column_stack([strong, noise]), level).abs()
    assert rho.iloc[0, 0] == pytest.approx(np.sqrt(3 * share * (1 - share)), rel=1e-4)
    assert spearman_gap(np.column_stack([strong, noise]), level) > 0.7
    assert spearman_gap(np.column_stack([strong, faint, noise]), level) == pytest.approx(0.0)


def test_factorvae_drops_constant_latents(copied_codes, factors):
    codes = np.column_stack([copied_codes, np.zeros(N_CELLS)])
    assert factorvae_score(codes, factors) > 0.95


def test_factorvae_is_seeded(rotated_codes, factors):
    assert factorvae_score(rotated_codes, factors, seed=5) == factorvae_score(
        rotated_codes, factors, seed=5
    )


# --- kNN factor prediction --------------------------------------------------------------------


def _trajectory_cells(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    step = rng.uniform(0, 1, n)
    path = rng.choice(["A", "B"], n)
    genes = np.linspace(0, 1, 30)
    expression = np.outer(step, genes) * 5 + 3 * (path == "B")[:, None] * (genes > 0.5)
    expression = expression + 0.1 * rng.standard_normal(expression.shape)
    obs = pd.DataFrame({"step": step, "path": pd.Categorical(path)})
    return np.clip(expression, 0, None), obs


def test_knn_predicts_factors_of_generated_cells():
    real_x, real_obs = _trajectory_cells(600, 0)
    gen_x, gen_obs = _trajectory_cells(200, 1)
    real = ad.AnnData(
        sparse.csr_matrix(real_x), obs=real_obs.set_index(real_obs.index.astype(str))
    )
    generated = ad.AnnData(sparse.csr_matrix(gen_x))
    generated.obs_names = [f"gen{i}" for i in range(200)]
    predicted = knn_factor_prediction(real, generated, ["step", "path"], n_pcs=10, chunk_size=64)
    assert list(predicted.index) == list(generated.obs_names)
    assert isinstance(predicted["path"].dtype, pd.CategoricalDtype)
    assert np.mean(predicted["path"].to_numpy() == gen_obs["path"].to_numpy()) > 0.95
    assert np.corrcoef(predicted["step"], gen_obs["step"])[0, 1] > 0.95
    # the predictions then score the generating codes like real factors
    gen_codes = np.column_stack([gen_obs["step"], gen_obs["path"].cat.codes])
    assert spearman_gap(gen_codes, predicted) > 0.8
    dense = knn_factor_prediction(real_x, gen_x, real_obs, n_pcs=10)
    assert np.corrcoef(dense["step"], predicted["step"])[0, 1] > 0.99


def test_knn_agrees_with_scikit_learn_estimators():
    real_x, real_obs = _trajectory_cells(300, 0)
    gen_x, _ = _trajectory_cells(100, 1)
    predicted = knn_factor_prediction(real_x, gen_x, real_obs, n_pcs=5)
    pca = PCA(n_components=5, random_state=0).fit(real_x)
    regressor = KNeighborsRegressor(n_neighbors=3).fit(pca.transform(real_x), real_obs["step"])
    classifier = KNeighborsClassifier(n_neighbors=3).fit(pca.transform(real_x), real_obs["path"])
    np.testing.assert_allclose(predicted["step"], regressor.predict(pca.transform(gen_x)))
    np.testing.assert_array_equal(predicted["path"], classifier.predict(pca.transform(gen_x)))


# --- errors -----------------------------------------------------------------------------------


@pytest.fixture
def small_adata() -> ad.AnnData:
    rng = np.random.default_rng(0)
    adata = ad.AnnData(
        rng.poisson(2.0, (50, 8)).astype(float),
        obs=pd.DataFrame({"batch": ["a", "b"] * 25, "one": ["x"] * 50}, index=map(str, range(50))),
    )
    adata.obsm["X_z"] = rng.standard_normal((50, 3))
    return adata


def test_latent_key_errors(small_adata):
    with pytest.raises(ValueError, match="pass latent_key="):
        mig(small_adata, ["batch"])
    with pytest.raises(ValueError, match=r"'X_missing' is not in \.obsm"):
        mig(small_adata, ["batch"], latent_key="X_missing")


def test_factor_errors(small_adata):
    codes = small_adata.obsm["X_z"]
    with pytest.raises(ValueError, match=r"\['nope'\] are not columns of .obs"):
        mig(small_adata, ["batch", "nope"], latent_key="X_z")
    with pytest.raises(ValueError, match="need an AnnData"):
        mig(codes, ["batch"])
    with pytest.raises(ValueError, match="factors have 49 rows but the codes have 50"):
        mig(codes, np.arange(49))
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        mig(small_adata, ["one"], latent_key="X_z")
    with pytest.raises(ValueError, match="'factor_0' has missing values"):
        spearman_gap(codes, np.where(np.arange(50) < 3, np.nan, 1.0 * np.arange(50)))
    with pytest.raises(ValueError, match="pass factors="):
        mutual_info(codes, None)
    with pytest.raises(ValueError, match="factors is empty"):
        mutual_info(codes, pd.DataFrame(index=range(50)))
    with pytest.raises(ValueError, match="factors must be 1-D or 2-D"):
        mutual_info(codes, np.zeros((50, 2, 2)))


def test_code_errors(small_adata):
    codes = small_adata.obsm["X_z"].copy()
    batch = small_adata.obs["batch"]
    codes[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        mig(codes, batch)
    with pytest.raises(ValueError, match="2-D array"):
        mig(np.zeros((50, 3, 2)), batch)
    with pytest.raises(ValueError, match="must be numeric"):
        mig(np.full((50, 2), "a"), batch)
    with pytest.raises(ValueError, match="at least 2 latents"):
        mig(np.arange(50.0), batch)


def test_posterior_var_errors(small_adata):
    codes, batch = small_adata.obsm["X_z"], small_adata.obs["batch"]
    with pytest.raises(ValueError, match=r"shape \(50, 2\) but the codes have shape \(50, 3\)"):
        mutual_info(codes, batch, posterior_var=np.ones((50, 2)))
    with pytest.raises(ValueError, match="strictly positive"):
        mutual_info(codes, batch, posterior_var=-np.ones(3))
    with pytest.raises(ValueError, match=r"'X_var' is not in \.obsm"):
        mutual_info(small_adata, ["batch"], latent_key="X_z", posterior_var="X_var")
    with pytest.raises(ValueError, match=r"is an \.obsm key, which needs an AnnData"):
        mutual_info(codes, batch, posterior_var="X_var")
    with pytest.raises(ValueError, match="posterior_var contain NaN"):
        mutual_info(codes, batch, posterior_var=np.full(3, np.nan))


def test_argument_range_errors(small_adata):
    codes, batch = small_adata.obsm["X_z"], small_adata.obs["batch"]
    with pytest.raises(ValueError, match="n_bins must be at least 2"):
        mutual_info(codes, np.arange(50.0), n_bins=1)
    with pytest.raises(ValueError, match="n_latent_bins must be at least 2"):
        mutual_info(codes, batch, n_latent_bins=1)
    with pytest.raises(ValueError, match="max_cells must be at least 2"):
        mutual_info(codes, batch, posterior_var=np.ones(3), max_cells=1)
    with pytest.raises(ValueError, match="single value among the 2 cells"):
        mutual_info(codes, np.repeat([0, 1], 25), posterior_var=np.ones(3), max_cells=2, seed=0)
    with pytest.raises(ValueError, match="n_cells_per_vote must be at least 2"):
        factorvae_score(codes, batch, n_cells_per_vote=1)
    with pytest.raises(ValueError, match="every latent is constant"):
        factorvae_score(np.ones((50, 3)), batch)


def test_knn_errors(small_adata):
    other = small_adata.copy()
    other.var_names = [f"g{i}" for i in range(8)]
    with pytest.raises(ValueError, match="list different genes"):
        knn_factor_prediction(small_adata, other, ["batch"])
    with pytest.raises(ValueError, match="real cells have 8 genes but generated cells have 5"):
        knn_factor_prediction(small_adata, np.zeros((10, 5)), ["batch"])
    with pytest.raises(ValueError, match="layer 'counts' is not in the real AnnData"):
        knn_factor_prediction(small_adata, small_adata, ["batch"], layer="counts")
    with pytest.raises(ValueError, match="layer='counts' applies to AnnData input"):
        knn_factor_prediction(small_adata.X, small_adata.X, small_adata.obs, layer="counts")
    with pytest.raises(ValueError, match="n_neighbors=3 exceeds the 2 real reference cells"):
        knn_factor_prediction(small_adata, small_adata, ["batch"], max_reference_cells=2)
    with pytest.raises(ValueError, match="n_neighbors must be at least 1"):
        knn_factor_prediction(small_adata, small_adata, ["batch"], n_neighbors=0)
    bad = small_adata.X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="generated expression values contain NaN"):
        knn_factor_prediction(small_adata, bad, ["batch"])
