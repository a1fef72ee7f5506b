"""Which latents of a trained β-TCVAE carry information, and which collapsed to the prior.

A latent ``j`` whose posterior ``q(z_j | x)`` equals the prior ``N(0, 1)`` for every cell
tells nothing about the cells: its KL divergence to the prior is zero. Under a strong
total-correlation penalty several latents end like that, while their posterior means still
drift by a few hundredths with the strongest signal of the data (e.g. batch); on real data
such latents look like weak copies of the active ones. Two numbers per latent tell them apart:

- ``activity``: the variance over cells of the posterior means (the "active units" of
  Burda et al., 2016);
- ``kl``: ``KL(q(z_j | x) ‖ N(0, 1))`` averaged over cells, in nats, an upper bound of
  what the latent can say about a cell.

A latent is flagged ``collapsed`` when its ``kl`` is below :data:`COLLAPSED_KL_NATS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

#: ``adata.uns`` key the β-TCVAE writes its latent diagnostics to after training.
LATENT_ACTIVITY_KEY = "tcvae_latent_activity"
#: A latent whose mean KL to the prior is below this many nats is flagged collapsed (the
#: measurements behind it are in ``docs/tcvae.md``, "Collapsed latents").
COLLAPSED_KL_NATS = 0.1
#: Cells encoded at a time by :meth:`LatentActivityMixin.get_latent_activity` (and summed at
#: a time by :func:`latent_activity_table`): the diagnosis holds one block's posteriors.
MOMENT_BLOCK_CELLS = 65_536


def latent_activity_table(
    mean: np.ndarray, variance: np.ndarray, kl_threshold: float = COLLAPSED_KL_NATS
) -> pd.DataFrame:
    """Per-latent activity, posterior SD and KL to the prior from posterior moments.

    Parameters
    ----------
    mean, variance
        Posterior means and variances of the cells, each of shape ``(n_cells, n_latent)``.
    kl_threshold
        Latents with a mean KL below this (nats) are flagged ``collapsed``.

    Returns
    -------
    DataFrame indexed ``latent_0 … latent_{d−1}`` with columns ``activity`` (variance of the
    means over cells), ``posterior_sd`` (mean posterior SD), ``kl`` (mean KL to ``N(0, 1)``,
    nats) and ``collapsed`` (bool).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mean = np.c_[rng.normal(size=500), 0.01 * rng.normal(size=500)]
    >>> variance = np.c_[np.full(500, 0.01), np.ones(500)]
    >>> latent_activity_table(mean, variance)["collapsed"].tolist()
    [False, True]
    """
    mean, variance = np.asarray(mean), np.asarray(variance)
    if mean.ndim != 2 or mean.shape != variance.shape or mean.shape[0] == 0:
        raise ValueError(
            "mean and variance must be non-empty arrays of the same shape (n_cells, n_latent), "
            f"got {mean.shape} and {variance.shape}"
        )
    if not kl_threshold >= 0:
        raise ValueError(f"kl_threshold must be a non-negative number of nats, got {kl_threshold}")
    moments = LatentMoments(mean.shape[1])
    for start in range(0, mean.shape[0], MOMENT_BLOCK_CELLS):
        stop = start + MOMENT_BLOCK_CELLS
        moments.update(mean[start:stop], variance[start:stop])
    return moments.table(kl_threshold)


class LatentMoments:
    """The sums behind :func:`latent_activity_table`, gathered a block of cells at a time.

    Holds a few numbers per latent, never one per cell: the diagnosis of a million cells
    needs no more memory than that of a thousand. The variance of the means is merged over
    blocks with Chan et al.'s pairwise update (each block's is computed in two passes), in
    float64.

    Parameters
    ----------
    n_latent
        Number of latents.

    Examples
    --------
    >>> moments = LatentMoments(n_latent=2)
    >>> moments.update(mean_block, variance_block)  # once per block of cells
    >>> moments.table()["collapsed"].tolist()
    """

    def __init__(self, n_latent: int):
        self.n_cells = 0
        self._mean_of_means = np.zeros(n_latent)
        self._squared_deviations = np.zeros(n_latent)
        self._sum_sd = np.zeros(n_latent)
        self._sum_kl = np.zeros(n_latent)

    def update(self, mean: np.ndarray, variance: np.ndarray) -> None:
        """Add a block of cells' posterior means and variances, each ``(n, n_latent)``."""
        mean = np.asarray(mean, dtype=np.float64)
        variance = np.asarray(variance, dtype=np.float64)
        if mean.ndim != 2 or mean.shape != variance.shape or mean.shape[1] != len(self._sum_kl):
            raise ValueError(
                f"mean and variance must both have shape (n_cells, {len(self._sum_kl)}), got "
                f"{mean.shape} and {variance.shape}"
            )
        if not np.all(variance > 0):
            raise ValueError(
                "posterior variances must be positive; pass variances, not log-variances"
            )
        n = mean.shape[0]
        if n == 0:
            return
        block_mean = mean.mean(axis=0)
        block_squared = ((mean - block_mean) ** 2).sum(axis=0)
        total = self.n_cells + n
        delta = block_mean - self._mean_of_means
        self._squared_deviations += block_squared + delta**2 * self.n_cells * n / total
        self._mean_of_means += delta * n / total
        self.n_cells = total
        self._sum_sd += np.sqrt(variance).sum(axis=0)
        self._sum_kl += (0.5 * (mean**2 + variance - np.log(variance) - 1.0)).sum(axis=0)

    def table(self, kl_threshold: float = COLLAPSED_KL_NATS) -> pd.DataFrame:
        """The table of :func:`latent_activity_table` for the cells added so far."""
        if self.n_cells == 0:
            raise ValueError("no cells were added; update() with at least one cell first")
        table = pd.DataFrame(
            {
                "activity": self._squared_deviations / self.n_cells,
                "posterior_sd": self._sum_sd / self.n_cells,
                "kl": self._sum_kl / self.n_cells,
            },
            index=[f"latent_{j}" for j in range(len(self._sum_kl))],
        )
        table["collapsed"] = table["kl"] < kl_threshold
        table.attrs["kl_threshold"] = float(kl_threshold)
        return table


def describe_collapsed(table: pd.DataFrame, kl_threshold: float = COLLAPSED_KL_NATS) -> str:
    """One line naming the collapsed latents of a :func:`latent_activity_table`.

    Examples
    --------
    >>> table = pd.DataFrame({"kl": [2.0, 0.01], "collapsed": [False, True]})
    >>> describe_collapsed(table)
    'Latent activity: 1 of 2 latents active; collapsed to the prior (KL < 0.1 nats): 1.'
    """
    collapsed = np.flatnonzero(table["collapsed"].to_numpy())
    n_latent = len(table)
    line = f"Latent activity: {n_latent - len(collapsed)} of {n_latent} latents active; "
    if len(collapsed) == 0:
        return line + "none collapsed."
    names = ", ".join(str(j) for j in collapsed)
    return line + f"collapsed to the prior (KL < {kl_threshold:g} nats): {names}."


class LatentActivityMixin:
    """Latent diagnostics of a model with a Gaussian posterior.

    Adds :meth:`get_latent_activity`; after training, the model writes its table to
    ``adata.uns`` and names the collapsed latents in its summary.
    """

    def get_latent_activity(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        kl_threshold: float = COLLAPSED_KL_NATS,
    ) -> pd.DataFrame:
        """Per-latent activity and KL to the prior; collapsed latents flagged.

        The cells are encoded :data:`MOMENT_BLOCK_CELLS` at a time and only sums over them
        are kept (:class:`LatentMoments`), so the memory this takes does not grow with the
        number of cells (a backed AnnData is read from its file a minibatch at a time).

        Parameters
        ----------
        adata
            AnnData set up like the training data; defaults to it.
        indices
            Cells to use; defaults to all.
        batch_size
            Cells per minibatch of the encoder.
        kl_threshold
            Latents whose mean KL to the prior is below this many nats are ``collapsed``.

        Returns
        -------
        DataFrame indexed ``latent_0 …`` with columns ``activity`` (variance of the posterior
        means over cells), ``posterior_sd`` (mean posterior SD), ``kl`` (mean
        ``KL(q(z_j | x) ‖ N(0, 1))`` in nats) and ``collapsed``.

        Examples
        --------
        >>> table = model.get_latent_activity()
        >>> table.index[table["collapsed"]].tolist()  # latents that carry nothing
        ['latent_3', 'latent_7']
        >>> mg.pl.latent_activity(table)
        """
        if not kl_threshold >= 0:
            raise ValueError(
                f"kl_threshold must be a non-negative number of nats, got {kl_threshold}"
            )
        adata = self._validate_anndata(adata)
        cells = np.arange(adata.n_obs) if indices is None else np.asarray(indices).ravel()
        if cells.dtype == bool:
            cells = np.flatnonzero(cells)
        moments = LatentMoments(self.module.n_latent)
        for start in range(0, len(cells), MOMENT_BLOCK_CELLS):
            mean, variance = self.get_latent_representation(
                adata,
                indices=cells[start : start + MOMENT_BLOCK_CELLS],
                batch_size=batch_size,
                return_dist=True,
            )
            moments.update(mean, variance)
        return moments.table(kl_threshold)

    def _record_latent_activity(self) -> pd.DataFrame:
        """Diagnose the training data's latents; store them in ``.uns`` and the summary."""
        table = self.get_latent_activity()
        self.adata.uns[LATENT_ACTIVITY_KEY] = {
            "activity": table["activity"].to_numpy(),
            "posterior_sd": table["posterior_sd"].to_numpy(),
            "kl": table["kl"].to_numpy(),
            "collapsed": np.flatnonzero(table["collapsed"].to_numpy()),
            "kl_threshold": table.attrs["kl_threshold"],
        }
        if not hasattr(self, "_summary_before_activity"):
            self._summary_before_activity = self._model_summary_string
        self._model_summary_string = (
            f"{self._summary_before_activity}\n{describe_collapsed(table)}"
        )
        return table


def activity_from_uns(adata: AnnData, key: str = LATENT_ACTIVITY_KEY) -> pd.DataFrame:
    """The table of :func:`latent_activity_table` rebuilt from ``adata.uns[key]``.

    Examples
    --------
    >>> table = activity_from_uns(adata)  # after model.train()
    """
    if key not in adata.uns:
        raise KeyError(
            f"adata.uns has no {key!r}; train a TCVAE on this AnnData first, or pass the "
            "table of model.get_latent_activity()"
        )
    stored = adata.uns[key]
    kl = np.asarray(stored["kl"], dtype=np.float64)
    collapsed = np.zeros(len(kl), dtype=bool)
    collapsed[np.asarray(stored["collapsed"], dtype=int)] = True
    table = pd.DataFrame(
        {
            "activity": np.asarray(stored["activity"], dtype=np.float64),
            "posterior_sd": np.asarray(stored["posterior_sd"], dtype=np.float64),
            "kl": kl,
            "collapsed": collapsed,
        },
        index=[f"latent_{j}" for j in range(len(kl))],
    )
    table.attrs["kl_threshold"] = float(stored["kl_threshold"])
    return table
