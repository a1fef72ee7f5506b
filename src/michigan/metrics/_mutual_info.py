"""Normalised mutual information between latents and ground-truth factors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._docs import insert_docs
from ._utils import (
    as_rng,
    discretize_factor,
    resolve_codes,
    resolve_factors,
    resolve_posterior_var,
    subsample_index,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import ArrayLike

#: Cells the posterior-mixture estimator uses at most: its time is O(n² · d).
MAX_MIXTURE_CELLS = 10_000
#: Bytes of the (chunk × latents × cells) float64 block the mixture estimator holds at once
#: (plus its float32 exponentials: 1.5 times this in all).
MIXTURE_CHUNK_BYTES = 64 * 2**20
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


def posterior_mixture_entropy(
    means: np.ndarray,
    variances: np.ndarray,
    groupings: Sequence[np.ndarray] = (),
    *,
    seed: int | np.random.Generator | None = 0,
    chunk_bytes: int = MIXTURE_CHUNK_BYTES,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-latent entropy of the aggregate posterior, a mixture of one Gaussian per cell.

    With one sample ``z_i ~ N(means_i, variances_i)`` per cell,
    ``H(z_j) = -mean_i log[(1/n) Σ_m N(z_ij; means_mj, variances_mj)]``; for each grouping
    (integer labels per cell) the conditional entropy averages, over cells, the log density of
    the mixture of the cell's own group, ``H(z_j | v) = Σ_v p(v) H(z_j | cells with v)``.
    Work is O(n² · d) in time; memory is bounded by ``chunk_bytes`` (one block of query cells
    at a time), never an n × n × d tensor.

    Returns the marginal entropies ``(d,)`` and one conditional-entropy array ``(d,)`` per
    grouping, in nats.
    """
    n_cells, n_latent = means.shape
    rng = as_rng(seed)
    stds = np.sqrt(variances)
    samples = means + stds * rng.standard_normal(means.shape)
    # Components laid out (latent, cell) so that a block is (chunk, latent, cell), C-contiguous,
    # and sums over a group of cells are one matrix product with the group indicator.
    means_t = np.ascontiguousarray(means.T)
    neg_half_precision_t = np.ascontiguousarray(-0.5 / variances.T)
    log_std_t = np.ascontiguousarray(np.log(stds).T)
    indicators = []
    for labels in groupings:
        n_groups = int(labels.max()) + 1
        one_hot = np.zeros((n_cells, n_groups), dtype=np.float32)
        one_hot[np.arange(n_cells), labels] = 1.0
        indicators.append((labels, one_hot, np.log(np.bincount(labels, minlength=n_groups))))

    marginal = np.zeros(n_latent)
    conditional = [np.zeros(n_latent) for _ in groupings]
    chunk = max(1, chunk_bytes // (8 * n_cells * n_latent))
    for start in range(0, n_cells, chunk):
        stop = min(start + chunk, n_cells)
        block = samples[start:stop, :, None] - means_t[None]  # (chunk, latent, cell)
        np.square(block, out=block)
        block *= neg_half_precision_t
        block -= log_std_t  # log N(z_ij; mu_mj, var_mj) up to -log(2π)/2
        peak = block.max(axis=2, keepdims=True)
        block -= peak
        # Log densities are exact in float64; their exponentials, all in (0, 1] after the
        # shift, lose nothing that matters in float32, which halves the cost of exp and sums.
        density = block.astype(np.float32)
        np.exp(density, out=density)
        peak = peak[..., 0] - _HALF_LOG_2PI
        marginal -= (np.log(density.sum(axis=2, dtype=np.float64)) + peak).sum(axis=0)
        for (labels, one_hot, log_sizes), total in zip(indicators, conditional, strict=True):
            own = labels[start:stop]
            group_sums = density @ one_hot  # (chunk, latent, group)
            own_sums = group_sums[np.arange(stop - start), :, own].astype(np.float64)
            own_sums = np.maximum(own_sums, np.finfo(np.float32).tiny)
            total -= (np.log(own_sums) + peak - log_sizes[own][:, None]).sum(axis=0)
    marginal = marginal / n_cells + np.log(n_cells)
    return marginal, [total / n_cells for total in conditional]


def discrete_entropy(labels: np.ndarray) -> float:
    """Entropy (nats) of integer labels from their frequencies."""
    p = np.bincount(labels) / labels.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _binned_mutual_info(codes_binned: np.ndarray, labels: np.ndarray, n_latent_bins: int):
    """I(z_j; v) in nats for every binned latent j, from the joint histogram."""
    n_groups = int(labels.max()) + 1
    n_cells = labels.size
    p_v = np.bincount(labels, minlength=n_groups) / n_cells
    values = np.empty(codes_binned.shape[1])
    for j, bins in enumerate(codes_binned.T):
        joint = np.bincount(bins * n_groups + labels, minlength=n_latent_bins * n_groups)
        joint = joint.reshape(n_latent_bins, n_groups) / n_cells
        p_z = joint.sum(axis=1, keepdims=True)
        nonzero = joint > 0
        ratio = joint[nonzero] / (p_z @ p_v[None])[nonzero]
        values[j] = float((joint[nonzero] * np.log(ratio)).sum())
    return values


def _quantile_bins(codes: np.ndarray, n_latent_bins: int) -> np.ndarray:
    """Each latent cut into ``n_latent_bins`` equal-frequency bins (labels 0..B-1)."""
    quantiles = np.linspace(0, 1, n_latent_bins + 1)[1:-1]
    binned = np.empty(codes.shape, dtype=np.int64)
    for j, column in enumerate(codes.T):
        edges = np.quantile(column, quantiles)
        binned[:, j] = np.searchsorted(edges, column, side="right")
    return binned


@insert_docs
def mutual_info(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | ArrayLike,
    *,
    latent_key: str | None = None,
    posterior_var: str | ArrayLike | None = None,
    n_bins: int = 4,
    n_latent_bins: int = 20,
    max_cells: int = MAX_MIXTURE_CELLS,
    seed: int = 0,
) -> pd.DataFrame:
    """Normalised mutual information ``I(z_j; v_k) / H(v_k)`` of every latent and factor.

    With posterior variances the latents are scored as distributions: one sample
    ``z_i ~ q(z | x_i)`` per cell, ``H(z_j) = -mean_i log[(1/n) Σ_m q(z_ij | x_m)]``,
    ``H(z_j | v_k) = Σ_v p(v) H(z_j | cells with v_k = v)`` and ``I = H(z_j) - H(z_j | v_k)``.
    This is the estimator to use for VAEs and probabilistic PCA: a collapsed latent whose
    posterior mean drifts by hundredths scores near 0, as it should. It costs O(n² · d) time,
    so at most ``max_cells`` random cells are used; memory stays bounded (chunks of 64 MiB).

    Without variances, each latent is cut into ``n_latent_bins`` quantile bins and the
    mutual information comes from the joint histogram of all cells (O(n · d) time and memory).

    Factors that are categorical, or numeric with at most ``n_bins`` distinct values, are used
    as they are; other numeric factors (step, time, library size) are cut into ``n_bins``
    quantile bins, quartiles by default as in the paper's plots.

    Parameters
    ----------
    %(metrics_codes_factors)s
    %(metrics_mutual_info_options)s

    Returns
    -------
    A DataFrame of normalised mutual information, latents × factors. Values lie in [0, 1] up
    to estimation error (small negative values mean no information).

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> factors = rng.integers(0, 3, size=(500, 2))
    >>> codes = factors + 0.3 * rng.standard_normal((500, 2))
    >>> nmi = mg.metrics.mutual_info(codes, factors, posterior_var=np.full(2, 0.09))
    >>> nmi.shape
    (2, 2)

    With an AnnData, name the representation and the ``.obs`` columns (posterior means and
    variances as scvi-tools' ``get_latent_representation(return_dist=True)`` returns them):

    >>> adata.obsm["X_tcvae"], adata.obsm["X_tcvae_var"] = mean, var  # doctest: +SKIP
    >>> mg.metrics.mutual_info(
    ...     adata, ["batch", "path", "step"], latent_key="X_tcvae", posterior_var="X_tcvae_var"
    ... )  # doctest: +SKIP
    """
    codes, latent_names = resolve_codes(data, latent_key)
    frame = resolve_factors(data, factors, codes.shape[0])
    labels = {name: discretize_factor(column, n_bins) for name, column in frame.items()}
    if posterior_var is None:
        if n_latent_bins < 2:
            raise ValueError(f"n_latent_bins must be at least 2, got {n_latent_bins}")
        binned = _quantile_bins(codes, n_latent_bins)
        information = {
            name: _binned_mutual_info(binned, factor_labels, n_latent_bins)
            for name, factor_labels in labels.items()
        }
    else:
        variances = resolve_posterior_var(data, posterior_var, codes.shape)
        if max_cells < 2:
            raise ValueError(f"max_cells must be at least 2, got {max_cells}")
        rng = as_rng(seed)
        rows = subsample_index(codes.shape[0], max_cells, rng)
        labels = {name: pd.factorize(values[rows])[0] for name, values in labels.items()}
        marginal, conditionals = posterior_mixture_entropy(
            codes[rows], variances[rows], list(labels.values()), seed=rng
        )
        information = {
            name: marginal - conditional
            for name, conditional in zip(labels, conditionals, strict=True)
        }
    normalised = {}
    for name, values in information.items():
        entropy = discrete_entropy(labels[name])
        if entropy <= 0:
            raise ValueError(
                f"factor {name!r} takes a single value among the {labels[name].size} cells "
                "scored; raise max_cells or leave the factor out"
            )
        normalised[name] = values / entropy
    result = pd.DataFrame(normalised, index=pd.Index(latent_names, name="latent"))
    result.columns.name = "factor"
    return result
