from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from michigan.datasets import SPLATTER_PRESETS, splatter_paths


@pytest.fixture(scope="module")
def branching() -> ad.AnnData:
    """Three paths (two continue the first), non-linear genes, true means kept."""
    return splatter_paths(
        n_cells=600,
        n_genes=400,
        n_batches=2,
        n_paths=3,
        n_steps=12,
        path_from=[None, 0, 0],
        nonlinear_prob=0.3,
        return_means=True,
        seed=3,
    )


def test_log_library_size_has_lib_loc_mean_and_lib_scale_sd():
    adata = splatter_paths(n_cells=5_000, n_genes=20, lib_loc=9.0, lib_scale=0.5, seed=1)
    log_library = np.log(adata.obs["library_size"].to_numpy())
    standard_error = 0.5 / np.sqrt(adata.n_obs)
    assert abs(log_library.mean() - 9.0) < 4 * standard_error
    assert abs(log_library.std() - 0.5) < 0.02
    # the observed totals scatter around the expected library size
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    assert abs(np.median(totals / adata.obs["library_size"].to_numpy()) - 1) < 0.05


def test_de_genes_and_down_regulated_share_match_their_probabilities():
    de_prob, down_prob = [0.1, 0.5, 0.9], 0.2
    adata = splatter_paths(
        n_cells=30, n_genes=20_000, n_paths=3, de_prob=de_prob, de_down_prob=down_prob, seed=2
    )
    for path, expected in enumerate(de_prob, start=1):
        factor = adata.var[f"de_factor_Path{path}"].to_numpy()
        is_de = factor != 1.0
        assert abs(is_de.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / factor.size)
        down_share = (factor[is_de] < 1).mean()
        assert abs(down_share - down_prob) < 4 * np.sqrt(down_prob * (1 - down_prob) / is_de.sum())


def test_linear_genes_interpolate_from_start_to_end_factor(branching):
    factors = branching.varm["path_factors"]  # genes × paths × steps
    de = branching.var[[f"de_factor_Path{i}" for i in (1, 2, 3)]].to_numpy()
    start = np.stack([np.ones(branching.n_vars), de[:, 0], de[:, 0]], axis=1)
    end = start * de  # a child path multiplies its parent's end factor
    position = np.linspace(0, 1, factors.shape[2])
    expected = start[..., None] + (end - start)[..., None] * position
    linear = ~branching.var["nonlinear"].to_numpy()
    np.testing.assert_allclose(factors[linear], expected[linear], rtol=1e-12)
    # non-linear genes leave the line between the same end points
    nonlinear = ~linear
    np.testing.assert_allclose(factors[nonlinear][..., 0], start[nonlinear], rtol=1e-9)
    np.testing.assert_allclose(factors[nonlinear][..., -1], end[nonlinear], rtol=1e-9)
    deviation = np.abs(factors[nonlinear] - expected[nonlinear]).max(axis=(1, 2))
    assert np.mean(deviation > 1e-3) > 0.9


def test_cell_means_are_gene_batch_and_step_factors_rescaled_to_library_size(branching):
    obs, var = branching.obs, branching.var
    batch_factor = var[["batch_factor_Batch1", "batch_factor_Batch2"]].to_numpy().T
    path_factor = np.transpose(branching.varm["path_factors"], (1, 2, 0))  # paths × steps × genes
    unscaled = (
        var["gene_mean"].to_numpy()
        * batch_factor[obs["batch"].cat.codes]
        * path_factor[obs["path"].cat.codes, obs["step"] - 1]
    )
    means = branching.layers["true_means"]
    np.testing.assert_allclose(means.sum(axis=1), obs["library_size"], rtol=1e-4)
    ratio = means / unscaled
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-4)


def test_counts_have_bcv_overdispersion():
    bcv_common, bcv_df = 0.4, 60
    adata = splatter_paths(
        n_cells=1_000, n_genes=300, bcv_common=bcv_common, bcv_df=bcv_df, lib_loc=8.0,
        return_means=True, seed=4,
    )  # fmt: skip
    mean = adata.layers["true_means"].astype(float)
    counts = adata.X.toarray()
    # Var = μ + μ² BCV² with BCV = (bcv_common + 1/√μ) √(df/χ²_df), one χ² draw per gene:
    # per gene, the excess over Poisson divided by μ² (bcv_common + 1/√μ)² is df/χ²_df
    expressed = mean.mean(axis=0) > 1
    excess = ((counts - mean) ** 2 - mean).sum(axis=0)
    scale = (mean**2 * (bcv_common + 1 / np.sqrt(mean)) ** 2).sum(axis=0)
    ratio = excess[expressed] / scale[expressed]
    assert np.median(ratio) == pytest.approx(bcv_df / stats.chi2.median(bcv_df), abs=0.06)


def test_steps_are_uniform_at_skew_half_and_ramp_otherwise():
    n_steps = 10
    uniform = splatter_paths(n_cells=20_000, n_genes=5, n_steps=n_steps, skew=0.5, seed=5)
    ramp = splatter_paths(n_cells=20_000, n_genes=5, n_steps=n_steps, skew=0.1, seed=5)
    observed_uniform = np.bincount(uniform.obs["step"], minlength=n_steps + 1)[1:]
    observed_ramp = np.bincount(ramp.obs["step"], minlength=n_steps + 1)[1:]
    assert stats.chisquare(observed_uniform).pvalue > 1e-3
    weights = np.linspace(0.1, 0.9, n_steps)
    expected_ramp = weights / weights.sum() * observed_ramp.sum()
    assert stats.chisquare(observed_ramp, expected_ramp).pvalue > 1e-3
    assert stats.chisquare(observed_ramp).pvalue < 1e-10  # not uniform
    assert set(uniform.obs["step"]) == set(range(1, n_steps + 1))


def test_batch_factors_differ_per_batch_and_per_gene():
    adata = splatter_paths(
        n_cells=100, n_genes=5_000, batch_cells=[30, 50, 20], batch_fac_loc=0.3, seed=6
    )
    assert adata.obs["batch"].tolist() == ["Batch1"] * 30 + ["Batch2"] * 50 + ["Batch3"] * 20
    factors = adata.var[[f"batch_factor_Batch{i}" for i in (1, 2, 3)]].to_numpy()
    assert np.all(factors != 1.0)  # every gene of every batch gets a factor
    assert not np.allclose(factors[:, 0], factors[:, 1])
    assert np.std(np.log(factors[:, 0])) > 0.1
    assert abs((factors < 1).mean() - 0.5) < 0.03
    magnitude = np.abs(np.log(factors))
    assert magnitude.mean() == pytest.approx(0.3, abs=0.02)  # |N(0.3, 0.1)|


def test_group_prob_sets_the_share_of_each_path():
    adata = splatter_paths(n_cells=10_000, n_genes=5, group_prob=[0.8, 0.2], seed=7)
    assert (adata.obs["path"] == "Path1").mean() == pytest.approx(0.8, abs=0.02)


def test_counts_are_nonnegative_integers_in_csr_matrices(branching):
    counts = branching.X
    assert sp.issparse(counts) and counts.format == "csr"
    assert np.issubdtype(counts.dtype, np.integer)
    assert counts.data.min() >= 0
    assert counts.nnz > 0
    layer = branching.layers["counts"]
    assert layer is not counts
    assert (layer != counts).nnz == 0
    assert branching.obs["step"].dtype.kind == "i"
    assert list(branching.obs["path"].cat.categories) == ["Path1", "Path2", "Path3"]


def test_dropout_only_removes_counts_and_mostly_low_ones():
    common = {"n_cells": 400, "n_genes": 300, "lib_loc": 8.0, "seed": 8}
    plain = splatter_paths(**common).X.toarray()
    dropped = splatter_paths(**common, dropout_mid=1.0, dropout_shape=-1.0).X.toarray()
    assert np.all(dropped <= plain)
    assert np.all((dropped == plain) | (dropped == 0))
    removed = (dropped == 0) & (plain > 0)
    assert removed.mean() > 0.05
    assert np.median(plain[removed]) < np.median(plain[plain > 0])


def test_same_seed_same_data_other_seed_other_data():
    first = splatter_paths(n_cells=200, n_genes=100, seed=11)
    second = splatter_paths(n_cells=200, n_genes=100, seed=11)
    other = splatter_paths(n_cells=200, n_genes=100, seed=12)
    assert (first.X != second.X).nnz == 0
    assert first.obs.equals(second.obs)
    assert (first.X != other.X).nnz > 0
    assert not first.obs["path"].equals(other.obs["path"])


def test_presets_reproduce_the_papers_setups_and_yield_to_explicit_arguments():
    assert SPLATTER_PRESETS["linear"]["nonlinear_prob"] == 0
    assert SPLATTER_PRESETS["nonlinear"]["n_cells"] == 10_000
    linear = splatter_paths(preset="linear", n_cells=300, n_genes=500)
    assert linear.n_obs == 300 and linear.n_vars == 500
    assert not linear.var["nonlinear"].any()
    assert linear.uns["splatter"]["de_fac_loc"] == [0.01, 0.01]
    nonlinear = splatter_paths(preset="nonlinear", n_cells=300, n_genes=2_000)
    assert nonlinear.var["nonlinear"].mean() == pytest.approx(0.1, abs=0.03)
    assert nonlinear.obs["step"].max() == 20
    with pytest.raises(ValueError, match="unknown preset 'curved'"):
        splatter_paths(preset="curved")


def test_parameters_are_recorded_and_survive_h5ad(tmp_path, branching):
    branching.write_h5ad(tmp_path / "splatter.h5ad")
    back = ad.read_h5ad(tmp_path / "splatter.h5ad")
    assert list(back.uns["splatter"]["path_from"]) == [-1, 0, 0]
    assert back.uns["splatter"]["n_steps"] == 12
    np.testing.assert_array_equal(back.varm["path_factors"], branching.varm["path_factors"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_cells": -5}, "n_cells must be at least 1"),
        ({"n_genes": 0}, "n_genes must be at least 1"),
        ({"n_steps": 0}, "n_steps must be at least 1"),
        ({"n_batches": 3, "n_cells": 2}, "n_batches=3 exceeds n_cells=2"),
        ({"de_prob": 1.5}, r"de_prob must be a probability in \[0, 1\]"),
        ({"nonlinear_prob": -0.1}, "nonlinear_prob must be a probability"),
        ({"skew": [0.5, 2.0]}, "skew must be a probability"),
        ({"de_prob": [0.5, 0.5, 0.5]}, "de_prob has 3 values but there are 2 paths"),
        ({"group_prob": [0.5, 0.6]}, "summing to 1"),
        ({"batch_cells": [10, 0]}, r"batch_cells\[i\] must be at least 1"),
        ({"lib_scale": -1.0}, "lib_scale must be a finite number >= 0"),
        ({"bcv_df": 0}, "bcv_df must be a finite number > 0"),
        ({"path_from": [1, 0]}, "no root"),
        ({"n_paths": 3, "path_from": [None, 2, 1]}, "cycle"),
        ({"path_from": [None, 1]}, "cannot continue itself"),
        ({"path_from": [None, 5]}, "not a path index"),
        ({"path_from": [None]}, "path_from has 1 entries but n_paths=2"),
    ],
)
def test_bad_parameters_raise_a_clear_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        splatter_paths(**{"n_cells": 20, "n_genes": 10, **arguments})
