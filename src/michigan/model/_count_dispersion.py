"""The count head's starting dispersion: how much cells vary around cells in the same state."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from ..data import OnDiskMatrix, is_on_disk

#: Neighbours whose pooled profile is a cell's expected profile.
DISPERSION_NEIGHBOURS = 15
#: Cells the model's estimate uses at most (a random subset above it).
DISPERSION_MAX_CELLS = 20_000
#: Range of the estimated dispersion: from very overdispersed to nearly Poisson.
DISPERSION_RANGE = (0.5, 1e3)


def read_rows(matrix, rows: np.ndarray, block_rows: int = 2048) -> sparse.csr_matrix:
    """Rows (sorted indices) of a matrix in memory or backed, as a sparse CSR matrix.

    A backed matrix is read through :class:`~michigan.data.OnDiskMatrix` (slices, not one
    HDF5 selection), ``block_rows`` rows at a time so that only one block is ever dense.
    """
    if not is_on_disk(matrix):
        return sparse.csr_matrix(matrix[rows])
    backed = OnDiskMatrix.from_backed(matrix)
    blocks = [
        sparse.csr_matrix(backed.rows(rows[start : start + block_rows]))
        for start in range(0, len(rows), block_rows)
    ]
    return sparse.vstack(blocks, format="csr")


def neighbourhood_dispersion(
    counts,
    coordinates: np.ndarray,
    n_neighbours: int = DISPERSION_NEIGHBOURS,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Per-gene negative-binomial dispersion of counts around cells in the same state.

    Each cell's expected counts are its library times the pooled gene shares of its
    ``n_neighbours`` nearest cells in ``coordinates`` (itself excluded), ``μ_cg``. Pooled over
    cells, the method of moments of ``Var(x) = μ + μ²/θ`` gives per gene

    ``θ_g = Σ_c μ_cg² / (Σ_c (x_cg − μ_cg)² / (1 + 1/k) − Σ_c μ_cg)``,

    where ``1 + 1/k`` removes the noise of estimating ``μ`` from ``k`` neighbours. Genes
    without excess variance get the upper end of :data:`DISPERSION_RANGE` (nearly Poisson).
    This is the noise *around* a state: the dispersion of all cells around one global profile
    would also count the differences between states, which the generator's profiles carry.

    Parameters
    ----------
    counts
        Raw counts, ``(n_cells, n_genes)``, dense or sparse.
    coordinates
        Each cell's state, ``(n_cells, n_dims)``: codes, or a few principal components.
    n_neighbours
        Neighbours per cell.
    chunk_size
        Cells per block of the computation (memory: about ``chunk_size × n_genes`` floats).

    Returns
    -------
    ``θ_g`` per gene, ``(n_genes,)``, within :data:`DISPERSION_RANGE`.

    Examples
    --------
    Two states, 50 genes, counts negative-binomial with θ = 4 around each state's mean (all
    cells around one mean would give θ ≈ 1):

    >>> rng = np.random.default_rng(0)
    >>> states = rng.integers(2, size=4000)
    >>> means = np.where(states[:, None] == 0, 5.0, 40.0) * np.ones((1, 50))
    >>> counts = rng.negative_binomial(4.0, 4.0 / (4.0 + means))
    >>> theta = neighbourhood_dispersion(counts, states[:, None].astype(float))
    >>> round(float(np.median(theta)))
    4
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    n_cells = coordinates.shape[0]
    if counts.shape[0] != n_cells:
        raise ValueError(
            f"counts has {counts.shape[0]} cells but coordinates has {n_cells}; pass one row "
            "per cell in both"
        )
    if n_cells < 2:
        raise ValueError("the dispersion needs at least 2 cells")
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    k = min(n_neighbours, n_cells - 1)
    search = NearestNeighbors(n_neighbors=k + 1).fit(coordinates)
    neighbours = search.kneighbors(coordinates, return_distance=False)[:, 1:]
    library = np.asarray(counts.sum(1)).ravel()
    squared_mean = np.zeros(counts.shape[1])
    squared_residual = np.zeros(counts.shape[1])
    total_mean = np.zeros(counts.shape[1])
    for start in range(0, n_cells, chunk_size):
        block = neighbours[start : start + chunk_size]
        rows = np.repeat(np.arange(len(block)), k)
        pooling = sparse.csr_matrix(
            (np.ones(block.size), (rows, block.ravel())), shape=(len(block), n_cells)
        )
        pooled = np.asarray((pooling @ counts).todense())
        shares = pooled / np.maximum(library[block].sum(1, keepdims=True), 1.0)
        mean = library[start : start + len(block), None] * shares
        observed = counts[start : start + len(block)].toarray()
        squared_mean += (mean**2).sum(0)
        squared_residual += ((observed - mean) ** 2).sum(0)
        total_mean += mean.sum(0)
    excess = squared_residual / (1.0 + 1.0 / k) - total_mean
    low, high = DISPERSION_RANGE
    theta = np.full(counts.shape[1], high)
    over = excess > 0
    theta[over] = squared_mean[over] / excess[over]
    return np.clip(theta, low, high)
