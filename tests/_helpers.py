"""Small synthetic data sets and checks shared by the tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy import sparse

#: Networks small enough for a GAN test to train in a second.
TINY_GAN = {"generator_hidden": (16,), "critic_hidden": (16,), "n_features": 4}
#: ``train()`` arguments of a GAN test: no progress bar, no realism monitor.
QUIET_GAN = {"enable_progress_bar": False, "monitor": False}


@contextmanager
def one_quiet_thread() -> Iterator[None]:
    """One torch thread (tiny networks run fastest so) and no warnings, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.set_num_threads(threads)


def clustered_counts(
    n_cells: int = 300,
    n_genes: int = 40,
    n_clusters: int = 3,
    n_batches: int = 1,
    seed: int = 0,
    sparse_format: bool = True,
) -> AnnData:
    """Negative-binomial counts from a few clusters with distinct gene programmes."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(n_clusters, size=n_cells)
    programmes = rng.gamma(1.0, 1.0, size=(n_clusters, n_genes)) * 3
    mean = programmes[cluster] * rng.lognormal(0, 0.2, size=(n_cells, 1))
    counts = rng.negative_binomial(5, 5 / (5 + mean)).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cluster": pd.Categorical([f"c{c}" for c in cluster]),
            "batch": pd.Categorical([f"b{b}" for b in rng.integers(n_batches, size=n_cells)]),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    matrix = sparse.csr_matrix(counts) if sparse_format else counts
    adata = AnnData(matrix, obs=obs, var=var)
    adata.layers["counts"] = matrix.copy()
    return adata


def snapshot(adata: AnnData) -> dict:
    """What a failed call must leave as it was."""
    matrix = adata.X.toarray() if sparse.issparse(adata.X) else np.array(adata.X, copy=True)
    return {
        "X": matrix,
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "uns": sorted(adata.uns.keys()),
        "obsm": sorted(adata.obsm.keys()),
        "layers": sorted(adata.layers.keys()),
    }


def assert_unchanged(adata: AnnData, before: dict) -> None:
    """Fail when ``adata`` differs from its :func:`snapshot`."""
    after = snapshot(adata)
    np.testing.assert_array_equal(after["X"], before["X"])
    pd.testing.assert_frame_equal(after["obs"], before["obs"])
    pd.testing.assert_frame_equal(after["var"], before["var"])
    assert after["uns"] == before["uns"]
    assert after["obsm"] == before["obsm"]
    assert after["layers"] == before["layers"]
