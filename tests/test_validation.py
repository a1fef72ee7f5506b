"""Bad input raises a clear error and leaves the AnnData as it was."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
from anndata import AnnData

import michigan as mg

from _helpers import assert_unchanged, clustered_counts, snapshot


def _counts(**kwargs) -> AnnData:
    return clustered_counts(n_cells=60, n_genes=10, sparse_format=False, **kwargs)


def _with_value(value) -> AnnData:
    adata = _counts()
    adata.X[0, 0] = value
    return adata


SETUP_CASES = {
    "nan": (lambda: _with_value(np.nan), {}, ValueError, "NaN or infinite.*impute"),
    "inf": (lambda: _with_value(np.inf), {}, ValueError, "NaN or infinite.*impute"),
    "missing layer": (_counts, {"layer": "raw"}, ValueError, "'raw' is not in adata.layers"),
    "missing batch key": (
        _counts,
        {"batch_key": "donor"},
        ValueError,
        "'donor' is not a column of adata.obs",
    ),
    "missing labels key": (
        _counts,
        {"labels_key": "cell_type"},
        ValueError,
        "'cell_type' is not a column of adata.obs",
    ),
    "empty": (lambda: _counts()[:0].copy(), {}, ValueError, "no cells; subset"),
    "single gene": (lambda: _counts()[:, :1].copy(), {}, ValueError, "1 gene.*keep more genes"),
    "non-numeric": (
        lambda: AnnData(np.full((5, 3), "a", dtype=object)),
        {},
        TypeError,
        "non-numeric dtype.*astype",
    ),
    "not an AnnData": (lambda: np.ones((5, 3)), {}, TypeError, "expected an AnnData"),
}


@pytest.mark.parametrize("case", SETUP_CASES, ids=list(SETUP_CASES))
def test_setup_anndata_rejects_bad_data_without_touching_it(case):
    make, kwargs, error, message = SETUP_CASES[case]
    adata = make()
    before = snapshot(adata) if isinstance(adata, AnnData) else None
    with pytest.raises(error, match=message):
        mg.TCVAE.setup_anndata(adata, **kwargs)
    if before is not None:
        assert_unchanged(adata, before)


@pytest.fixture
def registered() -> AnnData:
    adata = _counts()
    mg.TCVAE.setup_anndata(adata)
    return adata


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X: -X, "negative values.*raw counts.*gene_likelihood='normal'"),
        (lambda X: X + 0.5, "non-integer values.*raw counts.*gene_likelihood='normal'"),
    ],
    ids=["negative", "non-integer"],
)
def test_count_likelihoods_need_counts(change, message):
    adata = _counts()
    adata.X = change(adata.X)
    mg.TCVAE.setup_anndata(adata)
    before = snapshot(adata)
    with pytest.raises(ValueError, match=message):
        mg.TCVAE(adata, gene_likelihood="nb")
    assert_unchanged(adata, before)
    # the same data are fine for a Gaussian likelihood
    mg.TCVAE(adata, gene_likelihood="normal")


MODEL_CASES = {
    "n_latent zero": ({"n_latent": 0}, ValueError, "n_latent must be at least 1"),
    "n_latent float": ({"n_latent": 2.5}, TypeError, "n_latent must be an integer"),
    "negative beta": ({"beta": -1.0}, ValueError, "beta must be a finite number >= 0"),
    "unknown likelihood": (
        {"gene_likelihood": "gaussian"},
        ValueError,
        "unknown gene_likelihood 'gaussian'; choose one of nb, zinb, poisson, normal",
    ),
    "unknown estimator": (
        {"tc_estimator": "exact"},
        ValueError,
        "unknown tc_estimator 'exact'; choose one of mss, mws",
    ),
    "unknown KL estimator": (
        {"kl_estimator": "closed"},
        ValueError,
        "unknown kl_estimator 'closed'; choose one of monte_carlo, analytic",
    ),
    "bad dropout": ({"dropout_rate": 1.5}, ValueError, r"dropout_rate must lie in \[0, 1\)"),
}


@pytest.mark.parametrize("case", MODEL_CASES, ids=list(MODEL_CASES))
def test_model_arguments_are_checked(registered, case):
    kwargs, error, message = MODEL_CASES[case]
    before = snapshot(registered)
    with pytest.raises(error, match=message):
        mg.TCVAE(registered, **kwargs)
    assert_unchanged(registered, before)


def test_batch_size_below_three_is_rejected_for_mss(registered):
    model = mg.TCVAE(registered, n_latent=2, n_hidden=(8,))
    before = snapshot(registered)
    with pytest.raises(ValueError, match=r"batch_size=2 is too small.*at least 3.*'mss'"):
        model.train(max_epochs=1, batch_size=2)
    assert_unchanged(registered, before)


@pytest.mark.parametrize(
    ("warmup", "error", "message"),
    [
        (2.5, TypeError, r"n_epochs_kl_warmup must be an integer, got 2\.5"),
        (-1, ValueError, "n_epochs_kl_warmup must be at least 0, got -1"),
    ],
)
def test_kl_warmup_must_be_a_whole_number_of_epochs(registered, warmup, error, message):
    model = mg.TCVAE(registered, n_latent=2, n_hidden=(8,))
    before = snapshot(registered)
    with pytest.raises(error, match=message):
        model.train(max_epochs=1, batch_size=16, n_epochs_kl_warmup=warmup)
    assert_unchanged(registered, before)


def test_loading_onto_other_genes_is_rejected(registered, tmp_path):
    scvi.settings.seed = 0
    model = mg.TCVAE(registered, n_latent=2, n_hidden=(8,))
    model.train(max_epochs=1, batch_size=16, enable_progress_bar=False)
    model.save(tmp_path / "model")
    other = _counts()[:, ::-1].copy()
    other.var_names = [f"other{j}" for j in range(other.n_vars)]
    before = snapshot(other)
    with pytest.raises(ValueError, match=r"trained on 10 genes.*0 in common.*subset and order"):
        mg.TCVAE.load(tmp_path / "model", adata=other)
    assert_unchanged(other, before)
