"""A Gaussian-mixture generator on principal components, the paper's GMM baseline."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class GaussianMixtureGenerator(BaseEstimator):
    """Generate cells from a Gaussian mixture fitted on principal components.

    The cells are projected on ``n_pcs`` principal components; one
    :class:`~sklearn.mixture.GaussianMixture` is fitted for each candidate number of
    components and the one of lowest BIC is kept; samples are drawn from it and mapped back
    to expression space through the PCA.

    Parameters
    ----------
    n_pcs
        Principal components the mixture lives on.
    n_components
        Candidate numbers of mixture components (BIC picks one), or a single number.
    covariance_type
        Covariance structure of the components (scikit-learn's option).
    max_cells
        Cells the PCA and the mixtures are fitted on at most (random subsample); ``None``
        uses all cells.
    seed
        Seed of the subsample, the PCA and the mixtures.

    Attributes
    ----------
    pca_
        The fitted :class:`~sklearn.decomposition.PCA`.
    mixture_
        The selected :class:`~sklearn.mixture.GaussianMixture`.
    n_components_
        Its number of components.
    bic_
        BIC of every candidate, a Series indexed by the number of components.

    Examples
    --------
    >>> import numpy as np
    >>> from michigan.baselines import GaussianMixtureGenerator
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 10)), rng.normal(6, 1, (200, 10))])
    >>> gmm = GaussianMixtureGenerator(n_pcs=5, n_components=(1, 2, 3)).fit(X)
    >>> gmm.n_components_
    2
    >>> gmm.sample(100, seed=0).shape
    (100, 10)
    """

    def __init__(
        self,
        n_pcs: int = 50,
        n_components: int | Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        *,
        covariance_type: str = "full",
        max_cells: int | None = 50_000,
        seed: int = 0,
    ):
        self.n_pcs = n_pcs
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_cells = max_cells
        self.seed = seed

    def fit(self, X: ArrayLike, y: None = None) -> GaussianMixtureGenerator:
        """Fit the PCA and select the mixture by BIC.

        Parameters
        ----------
        X
            Expression, cells × genes (dense or sparse; sparse stays sparse).
        y
            Ignored.

        Returns
        -------
        The fitted generator.

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import GaussianMixtureGenerator
        >>> X = np.random.default_rng(0).normal(size=(300, 6))
        >>> GaussianMixtureGenerator(n_pcs=3, n_components=(1, 2)).fit(X).bic_.shape
        (2,)
        """
        is_sparse = sparse.issparse(X)
        X = sparse.csr_matrix(X, dtype=np.float64) if is_sparse else np.asarray(X, np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (cells × genes), got shape {X.shape}")
        if not np.all(np.isfinite(X.data if is_sparse else X)):
            raise ValueError("X contains NaN or infinite values; impute or drop them first")
        candidates = (
            [self.n_components] if np.isscalar(self.n_components) else list(self.n_components)
        )
        if not candidates or min(candidates) < 1:
            raise ValueError(
                f"n_components must be positive numbers of components, got {self.n_components}"
            )
        rng = np.random.default_rng(self.seed)
        if self.max_cells is not None and X.shape[0] > self.max_cells:
            X = X[np.sort(rng.choice(X.shape[0], self.max_cells, replace=False))]
        if X.shape[0] < max(candidates) or X.shape[0] < 2:
            raise ValueError(
                f"{X.shape[0]} cells cannot fit a mixture of {max(candidates)} components; "
                "pass more cells or fewer components"
            )
        n_pcs = max(1, min(self.n_pcs, min(X.shape) - (1 if is_sparse else 0)))
        self.pca_ = PCA(
            n_components=n_pcs,
            svd_solver="arpack" if is_sparse else "auto",
            random_state=self.seed,
        )
        pcs = self.pca_.fit_transform(X)
        fitted, bic = {}, {}
        for k in candidates:
            mixture = GaussianMixture(
                n_components=int(k), covariance_type=self.covariance_type, random_state=self.seed
            ).fit(pcs)
            fitted[int(k)], bic[int(k)] = mixture, mixture.bic(pcs)
        self.bic_ = pd.Series(bic, name="bic").rename_axis("n_components")
        self.n_components_ = int(self.bic_.idxmin())
        self.mixture_ = fitted[self.n_components_]
        self.n_features_in_ = X.shape[1]
        return self

    def sample(
        self, n_samples: int, *, seed: int | None = None, clip_negative: bool = False
    ) -> np.ndarray:
        """Draw new cells in expression space.

        Parameters
        ----------
        n_samples
            Cells to draw.
        seed
            Seed of the draw (``None``: fresh randomness).
        clip_negative
            Set negative values to 0 (for non-negative expression such as log-normalised
            counts).

        Returns
        -------
        Generated expression, ``n_samples`` × genes, in random order.

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import GaussianMixtureGenerator
        >>> X = np.random.default_rng(0).normal(size=(300, 6))
        >>> gmm = GaussianMixtureGenerator(n_pcs=3, n_components=1).fit(X)
        >>> bool(gmm.sample(50, seed=0, clip_negative=True).min() >= 0)
        True
        """
        check_is_fitted(self, "mixture_")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        rng = np.random.default_rng(seed)
        mixture = copy.copy(self.mixture_)
        mixture.random_state = int(rng.integers(2**31 - 1))
        pcs, _ = mixture.sample(n_samples)  # grouped by component: shuffle them
        cells = self.pca_.inverse_transform(pcs[rng.permutation(n_samples)])
        return np.clip(cells, 0.0, None) if clip_negative else cells
