from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from michigan.metrics import (
    frechet_distance,
    gene_fidelity,
    inception_score,
    latent_entropy_delta,
    rf_error,
)
from michigan.metrics._generation import _inception_from_probabilities

N_GENES = 20
FAST_FOREST = {"n_cells": 300, "n_estimators": 20}


def _gaussian_cells(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 2.0, N_GENES)
    return shift + scales * rng.standard_normal((n, N_GENES))


def _clustered_cells(n: int, seed: int, types: np.ndarray | None = None):
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 4, n) if types is None else types
    centres = 6.0 * np.random.default_rng(42).standard_normal((4, N_GENES))  # every gene informs
    return centres[types] + rng.standard_normal((types.size, N_GENES)), types


# --- random-forest error ----------------------------------------------------------------------


def test_rf_error_is_half_for_the_same_distribution():
    error = rf_error(_gaussian_cells(400, 0), _gaussian_cells(400, 1), **FAST_FOREST)
    assert 0.4 < error < 0.6


def test_rf_error_is_zero_for_separated_distributions():
    error = rf_error(_gaussian_cells(400, 0), _gaussian_cells(400, 1, shift=3.0), **FAST_FOREST)
    assert error < 0.02


def test_rf_error_sparse_anndata_with_layer_and_unbalanced_sides():
    real_x = np.random.default_rng(0).poisson(3.0, (500, N_GENES)).astype(float)
    gen_x = np.random.default_rng(1).poisson(3.0, (350, N_GENES)).astype(float)
    real = ad.AnnData(np.zeros_like(real_x), layers={"counts": sparse.csr_matrix(real_x)})
    generated = ad.AnnData(np.zeros_like(gen_x), layers={"counts": sparse.csc_matrix(gen_x)})
    error = rf_error(real, generated, layer="counts", n_estimators=20, n_pcs=10)
    assert 0.4 < error < 0.6
    assert rf_error(real, generated, layer="counts", n_estimators=20, n_pcs=10) == error  # seeded
    far = ad.AnnData(np.zeros_like(gen_x), layers={"counts": sparse.csr_matrix(gen_x + 4)})
    assert rf_error(real, far, layer="counts", n_estimators=20, n_pcs=10) < 0.02


# --- inception score --------------------------------------------------------------------------


def test_inception_of_certain_uniform_classifier_is_k():
    rng = np.random.default_rng(0)
    k = 5
    certain = np.eye(k)[np.repeat(np.arange(k), 40)]
    mean, sd = _inception_from_probabilities(certain[rng.permutation(200)], 1, rng)
    assert mean == pytest.approx(k)
    assert sd == 0.0
    uniform = np.full((200, k), 1 / k)
    assert _inception_from_probabilities(uniform, 4, rng)[0] == pytest.approx(1.0)


def test_inception_score_known_answers():
    # 3 PCs hold all the cluster signal: on pure-noise PCs a forest's leaves go uncertain
    real, types = _clustered_cells(800, 0)
    balanced, _ = _clustered_cells(400, 1)
    mean, sd = inception_score(real, balanced, types, n_estimators=30, n_splits=4, n_pcs=3)
    assert mean == pytest.approx(4.0, abs=0.3)
    assert sd < 0.3
    collapsed, _ = _clustered_cells(400, 2, types=np.zeros(400, dtype=int))
    assert inception_score(real, collapsed, types, n_estimators=30, n_splits=4, n_pcs=3)[0] < 1.2
    obs = pd.DataFrame({"cell_type": types.astype(str)}, index=[f"c{i}" for i in range(800)])
    adata = ad.AnnData(real, obs=obs)
    from_key = inception_score(adata, balanced, "cell_type", n_estimators=30, n_splits=4, n_pcs=3)
    assert from_key[0] == pytest.approx(mean, abs=0.1)


# --- Fréchet distance -------------------------------------------------------------------------


def test_frechet_distance_known_answers():
    real = _gaussian_cells(2000, 0)
    same = frechet_distance(real, _gaussian_cells(2000, 1), n_pcs=N_GENES)
    shift = np.zeros(N_GENES)
    shift[:4] = 1.0  # squared norm 4
    shifted = frechet_distance(real, _gaussian_cells(2000, 1) + shift, n_pcs=N_GENES)
    assert same < 0.2
    assert shifted == pytest.approx(4.0 + same, rel=0.1)
    wider = frechet_distance(real, 2.0 * _gaussian_cells(2000, 1), n_pcs=N_GENES)
    expected_wider = np.sum(np.linspace(0.5, 2.0, N_GENES) ** 2)  # Σ (2σ − σ)²
    assert wider == pytest.approx(expected_wider, rel=0.1)


def test_frechet_distance_sparse_matches_dense():
    real = np.random.default_rng(0).poisson(2.0, (600, N_GENES)).astype(float)
    fake = np.random.default_rng(1).poisson(2.5, (600, N_GENES)).astype(float)
    dense = frechet_distance(real, fake, n_pcs=10)
    sparse_fd = frechet_distance(sparse.csr_matrix(real), sparse.csr_matrix(fake), n_pcs=10)
    assert sparse_fd == pytest.approx(dense, rel=1e-6)


# --- gene fidelity ----------------------------------------------------------------------------


def test_gene_fidelity_known_answers():
    rng = np.random.default_rng(0)
    means = rng.gamma(2.0, size=N_GENES)
    real = rng.poisson(means, (1000, N_GENES)).astype(float)
    twin = rng.poisson(means, (1000, N_GENES)).astype(float)
    good = gene_fidelity(real, twin)
    assert list(good.index) == ["mean", "sd", "zero_fraction"]
    assert good.loc["mean", "pearson_r"] > 0.99
    assert good.loc["zero_fraction", "pearson_r"] > 0.99
    doubled = gene_fidelity(real, 2 * twin)
    assert doubled.loc["mean", "rmse"] > 5 * good.loc["mean", "rmse"]
    assert doubled.loc["mean", "mae"] == pytest.approx(means.mean(), rel=0.1)


def test_gene_fidelity_streams_sparse_exactly():
    rng = np.random.default_rng(0)
    real = rng.poisson(0.5, (300, N_GENES)).astype(float)
    fake = rng.poisson(0.7, (250, N_GENES)).astype(float)
    genes = [f"g{i}" for i in range(N_GENES)]
    real_adata = ad.AnnData(sparse.csr_matrix(real), var=pd.DataFrame(index=genes))
    fake_adata = ad.AnnData(sparse.csr_matrix(fake), var=pd.DataFrame(index=genes))
    summary, per_gene = gene_fidelity(real_adata, fake_adata, chunk_size=64, return_per_gene=True)
    dense_summary = gene_fidelity(real, fake)
    pd.testing.assert_frame_equal(summary, dense_summary)
    assert list(per_gene.index) == genes
    np.testing.assert_allclose(per_gene["real_mean"], real.mean(axis=0))
    np.testing.assert_allclose(per_gene["generated_sd"], fake.std(axis=0, ddof=1))
    np.testing.assert_allclose(per_gene["real_zero_fraction"], (real == 0).mean(axis=0))


# --- latent entropy difference ------------------------------------------------------------------


def test_delta_h_is_zero_for_identical_latents():
    latents = np.random.default_rng(0).standard_normal((400, 3))
    assert latent_entropy_delta(latents, latents.copy()) == 0.0
    variances = np.full((400, 3), 0.1)
    assert (
        latent_entropy_delta(latents, latents, predicted_var=variances, real_var=variances) == 0.0
    )


def test_delta_h_sign_and_gaussian_known_answer():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((1000, 2))
    spread = 2.0 * rng.standard_normal((1000, 2))
    narrow = 0.5 * rng.standard_normal((1000, 2))
    delta, per_latent = latent_entropy_delta(spread, real, return_per_latent=True)
    # both sides are smoothed by the same Gaussian kernel (bandwidth h from the real side):
    # per latent ΔH = ½ log((4 + h²) / (1 + h²)), close to log 2
    h2 = (0.9 * 1000**-0.2) ** 2
    assert delta == pytest.approx(2 * 0.5 * np.log((4 + h2) / (1 + h2)), abs=0.1)
    assert list(per_latent.index) == ["latent_0", "latent_1"]
    assert (per_latent > 0).all()
    assert latent_entropy_delta(narrow, real) < -0.5


def test_delta_h_with_posteriors_and_anndata():
    rng = np.random.default_rng(2)
    real = ad.AnnData(np.zeros((300, 1)))
    real.obsm["X_z"] = rng.standard_normal((300, 2))
    real.obsm["X_z_var"] = np.full((300, 2), 0.05)
    predicted = ad.AnnData(np.zeros((300, 1)))
    predicted.obsm["X_z"] = real.obsm["X_z"] + 1.5 * rng.standard_normal((300, 2))
    predicted.obsm["X_z_var"] = real.obsm["X_z_var"]
    delta = latent_entropy_delta(
        predicted, real, predicted_var="X_z_var", real_var="X_z_var", latent_key="X_z"
    )
    assert delta > 0.5


# --- errors -----------------------------------------------------------------------------------


def test_generation_input_errors():
    real = _gaussian_cells(50, 0)
    with pytest.raises(ValueError, match="real cells have 20 genes but generated cells have 5"):
        rf_error(real, real[:, :5])
    with pytest.raises(ValueError, match="generated data needs at least 2 cells"):
        frechet_distance(real, real[:1])
    with pytest.raises(ValueError, match="must be 2-D"):
        gene_fidelity(real, real[0])
    bad = real.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="real expression values contain NaN"):
        rf_error(bad, real)
    with pytest.raises(ValueError, match=r"real AnnData has no \.X"):
        rf_error(ad.AnnData(obs=pd.DataFrame(index=["a", "b"])), real)
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        rf_error(real, real, n_folds=1)
    with pytest.raises(ValueError, match="only 3 cells per side for 5 folds"):
        rf_error(real, real[:3])
    with pytest.raises(ValueError, match="n_cells must be at least 2"):
        frechet_distance(real, real, n_cells=1)
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        gene_fidelity(real, real, chunk_size=0)


def test_inception_errors():
    real, types = _clustered_cells(60, 0)
    adata = ad.AnnData(real, obs=pd.DataFrame({"t": types}, index=map(str, range(60))))
    with pytest.raises(ValueError, match="'cell_type' is not a column"):
        inception_score(adata, real, "cell_type")
    with pytest.raises(ValueError, match="needs an AnnData"):
        inception_score(real, real, "t")
    with pytest.raises(ValueError, match="labels has 59 entries but there are 60 real cells"):
        inception_score(real, real, types[:59])
    with pytest.raises(ValueError, match="labels has missing values"):
        inception_score(real, real, np.where(types == 0, np.nan, types))
    with pytest.raises(ValueError, match="fewer than 2 cell types"):
        inception_score(real, real, np.zeros(60))
    with pytest.raises(ValueError, match="only 5 generated cells for 10 splits"):
        inception_score(real, real[:5], types)
    with pytest.raises(ValueError, match="n_splits must be at least 1"):
        inception_score(real, real, types, n_splits=0)


def test_delta_h_errors():
    latents = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match="pass both predicted_var and real_var"):
        latent_entropy_delta(latents, latents, predicted_var=np.ones(2))
    with pytest.raises(ValueError, match="have 3 dimensions but real latents have 2"):
        latent_entropy_delta(np.zeros((10, 3)), latents)
    with pytest.raises(ValueError, match="real latents need at least 2 cells"):
        latent_entropy_delta(latents, latents[:1])
    with pytest.raises(ValueError, match="max_cells must be at least 2"):
        latent_entropy_delta(latents, latents, max_cells=1)
    with pytest.raises(ValueError, match="predicted latents come from an AnnData"):
        latent_entropy_delta(ad.AnnData(np.zeros((10, 1))), latents)
