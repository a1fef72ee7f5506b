"""k-nearest-neighbour precision and recall of generated cells (Kynkäänniemi et al., 2019)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

from .._docs import insert_docs
from ._generation import _balanced_subsamples
from ._utils import matched_expression, principal_components

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import ArrayLike


class PrecisionRecall(NamedTuple):
    """Precision (generated cells inside the real manifold) and recall (the reverse)."""

    precision: float
    recall: float


def _knn_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance of every point to its ``k``-th nearest other point of the same set."""
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(points)
    distances, _ = neighbours.kneighbors(points)
    return distances[:, k]


def _fraction_inside(
    queries: np.ndarray, reference: np.ndarray, radii: np.ndarray, chunk_size: int
) -> float:
    """Fraction of ``queries`` within the ball of radius ``radii[j]`` of some ``reference[j]``."""
    inside = np.zeros(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        distances = pairwise_distances(queries[start : start + chunk_size], reference)
        inside[start : start + chunk_size] = (distances <= radii[None, :]).any(axis=1)
    return float(inside.mean())


@insert_docs
def knn_precision_recall(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    *,
    layer: str | None = None,
    k: int = 3,
    n_cells: int = 3000,
    n_pcs: int = 50,
    chunk_size: int = 1024,
    seed: int = 0,
) -> PrecisionRecall:
    """Precision and recall of generated cells on k-nearest-neighbour manifolds.

    Kynkäänniemi et al. (2019): both sides (``n_cells`` each, equal sizes as in
    :func:`rf_error`) are projected on ``n_pcs`` principal components of all of them
    together; each cell's ball reaches its ``k``-th nearest neighbour on its own side.
    **Precision** is the fraction of generated cells inside some real cell's ball (are the
    generated cells realistic?), **recall** the fraction of real cells inside some generated
    cell's ball (is all of the real variety generated?). Mode collapse lowers recall and
    leaves precision high; implausible cells lower precision. Unlike the Fréchet distance on
    50 components, neither estimates a covariance matrix, so both stay meaningful with a few
    hundred cells per side; compare methods at equal ``n_cells`` (the balls shrink as cells
    are added).

    Parameters
    ----------
    %(metrics_real_generated)s
    %(metrics_layer)s
    k
        Neighbour that sets each ball's radius (3 in the paper).
    n_cells
        Cells drawn from each side.
    n_pcs
        Principal components of the pooled cells.
    chunk_size
        Cells compared at a time (memory: ``chunk_size × n_cells`` distances).
    seed
        Seed of the subsamples and the PCA.

    Returns
    -------
    ``PrecisionRecall(precision, recall)``, both in [0, 1]; 1 and 1 for identical sets.

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> real = np.vstack([rng.normal(size=(300, 5)), rng.normal(8.0, size=(300, 5))])
    >>> collapsed = rng.normal(size=(600, 5))  # one of the two modes only
    >>> precision, recall = mg.metrics.knn_precision_recall(real, collapsed)
    >>> bool(precision > 0.9), bool(recall < 0.6)
    (True, True)
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    real_block, gen_block = _balanced_subsamples(real_matrix, gen_matrix, n_cells, seed)
    if real_block.shape[0] <= k:
        raise ValueError(
            f"only {real_block.shape[0]} cells per side for k={k} neighbours; pass more "
            "cells or lower k"
        )
    real_pcs, gen_pcs = principal_components([real_block, gen_block], n_pcs, seed)
    precision = _fraction_inside(gen_pcs, real_pcs, _knn_radii(real_pcs, k), chunk_size)
    recall = _fraction_inside(real_pcs, gen_pcs, _knn_radii(gen_pcs, k), chunk_size)
    return PrecisionRecall(precision, recall)
