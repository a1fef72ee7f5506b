from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from michigan.datasets import PROSSTT_PRESETS, prosstt_tree


@pytest.fixture(scope="module")
def tree():
    return prosstt_tree(
        n_branch_points=3, n_genes=300, n_cells=7 * 30 * 2, branch_length=30, seed=5
    )


def _log_relative_means(adata, branch: str) -> np.ndarray:
    programs = adata.uns["prosstt"]["programs"][branch]
    return programs @ adata.varm["program_coefficients"].T


def test_tree_is_binary_and_time_runs_on_from_the_parent(tree):
    info = tree.uns["prosstt"]
    branches, parents = list(info["branches"]), list(info["parents"])
    assert len(branches) == 7 and parents.count("") == 1
    for branch in branches:
        children = parents.count(branch)
        assert children in (0, 2)
    start = dict(zip(branches, info["branch_start"], strict=True))
    for branch, parent in zip(branches, parents, strict=True):
        assert start[branch] == (0 if parent == "" else start[parent] + 30)
    for branch, cells in tree.obs.groupby("branch", observed=True):
        assert cells["time"].min() == start[branch]
        assert cells["time"].max() == start[branch] + 29


def test_even_sampling_puts_the_same_number_of_cells_at_every_point(tree):
    per_point = tree.obs.groupby(["branch", "time"], observed=True).size()
    assert len(per_point) == 7 * 30
    assert set(per_point) == {2}
    random = prosstt_tree(n_genes=20, n_cells=600, branch_length=20, sampling="random")
    assert random.obs.groupby(["branch", "time"], observed=True).size().std() > 1


def test_programs_and_means_are_continuous_across_branch_points(tree):
    info = tree.uns["prosstt"]
    for branch, parent in zip(info["branches"], info["parents"], strict=True):
        if parent == "":
            continue
        parent_programs = info["programs"][parent]
        child_programs = info["programs"][branch]
        steps = np.abs(np.diff(np.concatenate([parent_programs, child_programs]), axis=0))
        within = np.delete(steps, len(parent_programs) - 1, axis=0)
        junction = np.abs(child_programs[0] - parent_programs[-1])
        # the child takes one more step of the same walk: no jump at the branch point
        assert junction.max() <= 1.5 * within.max()
        parent_means = _log_relative_means(tree, parent)
        child_means = _log_relative_means(tree, branch)
        gene_jump = np.abs(child_means[0] - parent_means[-1]).max()
        assert gene_jump <= 1.5 * np.abs(np.diff(parent_means, axis=0)).max()
        # a walk restarted at the origin would jump by the whole excursion of the parent
        assert gene_jump < 0.5 * np.abs(parent_means[-1]).max()


def test_siblings_diverge_after_their_branch_point(tree):
    info = tree.uns["prosstt"]
    parents = list(info["parents"])
    parent = next(p for p in info["branches"] if parents.count(p) == 2)
    first, second = (b for b, p in zip(info["branches"], parents, strict=True) if p == parent)
    start_gap = np.abs(_log_relative_means(tree, first)[0] - _log_relative_means(tree, second)[0])
    end_gap = np.abs(_log_relative_means(tree, first)[-1] - _log_relative_means(tree, second)[-1])
    assert end_gap.mean() > 3 * start_gap.mean()


def test_counts_follow_the_negative_binomial_mean_variance_relation():
    alpha, beta = 0.4, 2.0
    adata = prosstt_tree(
        n_genes=200, n_cells=3_000, alpha=alpha, beta=beta, return_means=True, seed=1
    )
    mean = adata.layers["true_means"].astype(float)
    counts = adata.X.toarray()
    assert (counts - mean).sum() / mean.sum() == pytest.approx(0.0, abs=0.02)
    squared_error = ((counts - mean) ** 2).sum(axis=0)
    ratio = squared_error / (alpha * mean**2 + beta * mean).sum(axis=0)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    assert np.median(squared_error / mean.sum(axis=0)) > 1.5  # far from Poisson


def test_variance_below_the_mean_falls_back_to_poisson_with_a_warning():
    with pytest.warns(UserWarning, match="counts are Poisson"):
        adata = prosstt_tree(
            n_genes=100, n_cells=2_000, alpha=0.0, beta=0.5, return_means=True, seed=2
        )
    mean = adata.layers["true_means"].astype(float)
    counts = adata.X.toarray()
    ratio = ((counts - mean) ** 2).sum(axis=0) / mean.sum(axis=0)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)


def test_default_noise_parameters_are_drawn_per_gene_and_stay_overdispersed():
    adata = prosstt_tree(n_genes=2_000, n_cells=30, branch_length=5, seed=3)
    alpha, beta = adata.var["alpha"].to_numpy(), adata.var["beta"].to_numpy()
    assert np.median(alpha) == pytest.approx(0.2, rel=0.05)
    assert np.all(beta > 1) and np.median(beta) == pytest.approx(2.0, rel=0.05)


def test_library_size_is_the_expected_total_and_size_factors_are_lognormal():
    adata = prosstt_tree(n_genes=100, n_cells=4_000, library_sd=0.5, return_means=True, seed=4)
    np.testing.assert_allclose(
        adata.layers["true_means"].sum(axis=1), adata.obs["library_size"], rtol=1e-4
    )
    log_size = np.log(adata.obs["size_factor"].to_numpy())
    assert abs(log_size.mean()) < 4 * 0.5 / np.sqrt(adata.n_obs)
    assert log_size.std() == pytest.approx(0.5, abs=0.02)


def test_counts_are_nonnegative_integers_in_csr_matrices(tree):
    assert sp.issparse(tree.X) and tree.X.format == "csr"
    assert np.issubdtype(tree.X.dtype, np.integer) and tree.X.data.min() >= 0
    assert (tree.layers["counts"] != tree.X).nnz == 0
    assert tree.obs["time"].dtype.kind == "i"


def test_same_seed_same_data_other_seed_other_data():
    first = prosstt_tree(n_branch_points=2, n_genes=50, n_cells=200, seed=9)
    second = prosstt_tree(n_branch_points=2, n_genes=50, n_cells=200, seed=9)
    other = prosstt_tree(n_branch_points=2, n_genes=50, n_cells=200, seed=10)
    assert (first.X != second.X).nnz == 0 and first.obs.equals(second.obs)
    assert (first.X != other.X).nnz > 0


def test_presets_are_the_papers_trees_and_yield_to_explicit_arguments():
    for name, points, cells in (("3-way", 3, 10_500), ("4-way", 4, 10_800), ("5-way", 5, 11_000)):
        preset = PROSSTT_PRESETS[name]
        assert preset["n_branch_points"] == points and preset["n_cells"] == cells
        assert preset["n_genes"] == 2_000
        n_points = (2 * points + 1) * preset["branch_length"]
        assert cells % n_points == 0  # the same number of cells at every point
    small = prosstt_tree(preset="4-way", n_cells=900, n_genes=100)
    assert small.shape == (900, 100)
    assert small.obs["branch"].nunique() == 9
    assert small.uns["prosstt"]["branch_length"] == [50] * 9
    with pytest.raises(ValueError, match="unknown preset '6-way'"):
        prosstt_tree(preset="6-way")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_branch_points": -1}, "n_branch_points must be at least 0"),
        ({"n_genes": 0}, "n_genes must be at least 1"),
        ({"n_cells": -3}, "n_cells must be at least 1"),
        ({"branch_length": 0}, "branch_length must be at least 1"),
        ({"branch_length": [10, 10]}, "branch_length has 2 values but the tree has 3 branches"),
        ({"momentum": 1.0}, r"momentum must lie in \[0, 1\)"),
        ({"coef_shape": 0.0}, "coef_shape must be a finite number > 0"),
        ({"alpha": -0.1}, "alpha must be a non-negative number"),
        ({"beta": [1.0, 2.0]}, "one per gene"),
        ({"sampling": "dense"}, "sampling must be 'even' or 'random'"),
    ],
)
def test_bad_parameters_raise_a_clear_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        prosstt_tree(**{"n_genes": 10, "n_cells": 20, "branch_length": 5, **arguments})
