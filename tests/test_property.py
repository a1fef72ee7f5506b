"""Property-based test: small random AnnData end in a clear error or in finite codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import michigan as mg

from _helpers import assert_unchanged, snapshot

FORMATS = ("dense", "csr", "csc")
DTYPES = (np.float32, np.float64, np.int32)
FAULTS = (None, "nan", "inf", "negative", "fraction")
COLUMNS = (None, "normal", "nan", "one level")


def _column(kind: str, n_cells: int, rng) -> pd.Series:
    values = np.asarray(rng.choice(["A", "B", "C"], size=n_cells), dtype=object)
    if kind == "one level":
        values[:] = "A"
    if kind == "nan" and n_cells:
        values[rng.integers(n_cells)] = np.nan
    return pd.Series(values, dtype=object)


@st.composite
def small_anndata(draw):
    n_cells = draw(st.integers(0, 14))
    n_genes = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.poisson(2.0, size=(n_cells, n_genes)).astype(np.float64)
    fault = draw(st.sampled_from(FAULTS))
    if fault is not None and values.size:
        row, col = rng.integers(n_cells), rng.integers(n_genes)
        values[row, col] = {"nan": np.nan, "inf": np.inf, "negative": -3, "fraction": 0.5}[fault]
    dtype = draw(st.sampled_from(DTYPES))
    if np.issubdtype(dtype, np.integer) and not np.isfinite(values).all():
        dtype = np.float32
    matrix = values.astype(dtype)
    layout = draw(st.sampled_from(FORMATS))
    if layout != "dense":
        matrix = getattr(sparse, f"{layout}_matrix")(matrix)
    labels, batches = draw(st.sampled_from(COLUMNS)), draw(st.sampled_from(COLUMNS))
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)])
    if labels is not None:
        obs["label"] = _column(labels, n_cells, rng).to_numpy()
    if batches is not None:
        obs["batch"] = _column(batches, n_cells, rng).to_numpy()
    adata = AnnData(matrix, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))
    return adata, labels is not None, batches is not None, draw(st.sampled_from((2, 4, 16)))


def _stage(call, adata):
    """Run one stage; on error, check it is clear and that ``adata`` did not change."""
    before = snapshot(adata)
    try:
        return True, call()
    except (ValueError, TypeError) as error:
        assert str(error), f"{type(error).__name__} without a message"
        assert_unchanged(adata, before)
        return False, None


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(small_anndata())
def test_random_small_anndata_end_in_a_clear_error_or_finite_codes(case):
    adata, has_labels, has_batches, batch_size = case
    keys = {
        "labels_key": "label" if has_labels else None,
        "batch_key": "batch" if has_batches else None,
    }
    ok, _ = _stage(lambda: mg.TCVAE.setup_anndata(adata, **keys), adata)
    if not ok:
        return
    ok, model = _stage(lambda: mg.TCVAE(adata, n_latent=2, n_hidden=(4,)), adata)
    if not ok:
        return
    train = {"max_epochs": 1, "batch_size": batch_size, "enable_progress_bar": False}
    ok, _ = _stage(lambda: model.train(**train), adata)
    if not ok:
        return
    codes = model.get_latent_representation()
    assert codes.shape == (adata.n_obs, 2)
    assert np.isfinite(codes).all()
