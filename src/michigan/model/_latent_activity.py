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
    mean = np.asarray(mean, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    if mean.ndim != 2 or mean.shape != variance.shape or mean.shape[0] == 0:
        raise ValueError(
            "mean and variance must be non-empty arrays of the same shape (n_cells, n_latent), "
            f"got {mean.shape} and {variance.shape}"
        )
    if not np.all(variance > 0):
        raise ValueError("posterior variances must be positive; pass variances, not log-variances")
    if not kl_threshold >= 0:
        raise ValueError(f"kl_threshold must be a non-negative number of nats, got {kl_threshold}")
    kl = 0.5 * (mean**2 + variance - np.log(variance) - 1.0)
    table = pd.DataFrame(
        {
            "activity": mean.var(axis=0),
            "posterior_sd": np.sqrt(variance).mean(axis=0),
            "kl": kl.mean(axis=0),
        },
        index=[f"latent_{j}" for j in range(mean.shape[1])],
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
        mean, variance = self.get_latent_representation(
            adata, indices=indices, batch_size=batch_size, return_dist=True
        )
        return latent_activity_table(mean, variance, kl_threshold)

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
