"""Probabilistic PCA (Tipping & Bishop 1999), closed-form maximum likelihood."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class PPCA(TransformerMixin, BaseEstimator):
    """Probabilistic PCA with Gaussian posteriors, the paper's linear baseline.

    The model is ``x = W z + μ + ε`` with ``z ~ N(0, I_q)`` and ``ε ~ N(0, σ² I_D)``. Its
    maximum-likelihood fit is closed form: ``μ`` is the mean, ``σ²`` the mean of the
    ``D − q`` discarded eigenvalues of the covariance, and ``W = U_q (Λ_q − σ² I)^½`` with the
    leading eigenvectors ``U_q`` and eigenvalues ``Λ_q`` (rotation ``R = I``). The posterior
    of a cell is ``z | x ~ N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹)`` with ``M = WᵀW + σ² I``; its
    covariance is the same for every cell and diagonal here, so the codes can be scored by
    :func:`michigan.metrics.mutual_info` as distributions, like a VAE's.

    Parameters
    ----------
    n_components
        Latent dimensions ``q`` (fewer than the genes).
    seed
        Seed of the ARPACK solver used for sparse input.

    Attributes
    ----------
    mean_
        Per-gene mean ``μ``, shape ``(D,)``.
    components_
        Principal axes ``U_qᵀ``, shape ``(q, D)``, orthonormal rows.
    explained_variance_
        Leading covariance eigenvalues ``Λ_q``.
    noise_variance_
        Isotropic noise variance ``σ²``.
    loadings_
        ``W``, shape ``(D, q)``.
    posterior_covariance_
        ``σ² M⁻¹``, shape ``(q, q)``.

    Examples
    --------
    >>> import numpy as np
    >>> from michigan.baselines import PPCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 20)) + rng.normal(size=(500, 20))
    >>> ppca = PPCA(n_components=3).fit(X)
    >>> mean, var = ppca.transform(X, return_var=True)
    >>> mean.shape, var.shape
    ((500, 3), (500, 3))
    >>> ppca.sample(10, seed=0).shape
    (10, 20)
    """

    def __init__(self, n_components: int = 10, *, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit(self, X: ArrayLike, y: None = None) -> PPCA:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        X
            Data, cells × genes (dense or sparse; sparse stays sparse).
        y
            Ignored.

        Returns
        -------
        The fitted model.

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import PPCA
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(2000, 2)) @ rng.normal(size=(2, 10))
        >>> X += 0.5 * rng.normal(size=(2000, 10))  # noise variance 0.25
        >>> round(PPCA(n_components=2).fit(X).noise_variance_, 2)
        0.25
        """
        is_sparse = sparse.issparse(X)
        X = sparse.csr_matrix(X, dtype=np.float64) if is_sparse else np.asarray(X, np.float64)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must be 2-D with at least 2 cells, got shape {X.shape}")
        n_cells, n_genes = X.shape
        if not 1 <= self.n_components < min(n_genes, n_cells):
            raise ValueError(
                f"n_components must be between 1 and {min(n_genes, n_cells) - 1} (fewer than "
                f"the {n_genes} genes and {n_cells} cells) so that noise variance is left; "
                f"got {self.n_components}"
            )
        values = X.data if is_sparse else X
        if not np.all(np.isfinite(values)):
            raise ValueError("X contains NaN or infinite values; impute or drop them first")
        pca = PCA(
            n_components=self.n_components,
            svd_solver="arpack" if is_sparse else "full",
            random_state=self.seed,
        ).fit(X)
        if is_sparse:
            gene_variance = mean_variance_axis(X, axis=0)[1] * n_cells / (n_cells - 1)
        else:
            gene_variance = X.var(axis=0, ddof=1)
        eigenvalues = pca.explained_variance_
        noise = (gene_variance.sum() - eigenvalues.sum()) / (n_genes - self.n_components)
        self.noise_variance_ = float(max(noise, np.finfo(np.float64).eps))
        self.mean_ = pca.mean_
        self.components_ = pca.components_
        self.explained_variance_ = eigenvalues
        self.loadings_ = self.components_.T * np.sqrt(
            np.clip(eigenvalues - self.noise_variance_, 0.0, None)
        )
        m_matrix = self.loadings_.T @ self.loadings_ + self.noise_variance_ * np.eye(
            self.n_components
        )
        self._m_inverse = np.linalg.inv(m_matrix)
        self.posterior_covariance_ = self.noise_variance_ * self._m_inverse
        self.n_features_in_ = n_genes
        return self

    def _check_input(self, X: ArrayLike, what: str):
        check_is_fitted(self, "loadings_")
        width = self.n_features_in_ if what == "X" else self.n_components
        X = X if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(f"{what} must have shape (n, {width}), got {X.shape}")
        return X

    def transform(
        self, X: ArrayLike, return_var: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior means of the codes, optionally with their posterior variances.

        Parameters
        ----------
        X
            Data, cells × genes (sparse input is never densified).
        return_var
            Also return the posterior variances (the diagonal of ``posterior_covariance_``,
            one row per cell), ready for ``mutual_info(..., posterior_var=var)``.

        Returns
        -------
        Posterior means ``M⁻¹ Wᵀ (x − μ)``, cells × q; with ``return_var``, also the
        variances, cells × q.

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import PPCA
        >>> X = np.random.default_rng(0).normal(size=(200, 8))
        >>> mean, var = PPCA(n_components=2).fit(X).transform(X, return_var=True)
        >>> bool(np.all(var > 0))
        True
        """
        X = self._check_input(X, "X")
        projection = self.loadings_ @ self._m_inverse  # (D, q): rows of (x − μ) map to means
        means = np.asarray(X @ projection) - self.mean_ @ projection
        if not return_var:
            return means
        variances = np.tile(np.diag(self.posterior_covariance_), (means.shape[0], 1))
        return means, variances

    def inverse_transform(self, Z: ArrayLike) -> np.ndarray:
        """Mean expression ``W z + μ`` of codes.

        Parameters
        ----------
        Z
            Codes, cells × q.

        Returns
        -------
        Expression, cells × genes (noise-free).

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import PPCA
        >>> ppca = PPCA(n_components=2).fit(np.random.default_rng(0).normal(size=(200, 8)))
        >>> ppca.inverse_transform(np.zeros((1, 2))).shape
        (1, 8)
        """
        Z = self._check_input(Z, "Z")
        return Z @ self.loadings_.T + self.mean_

    def sample(self, n_samples: int, *, seed: int | None = None, noise: bool = True) -> np.ndarray:
        """Draw new cells from the fitted model.

        Parameters
        ----------
        n_samples
            Cells to draw.
        seed
            Seed of the draw.
        noise
            Add the isotropic noise ``ε ~ N(0, σ² I)``; ``False`` returns ``W z + μ``.

        Returns
        -------
        Generated expression, ``n_samples`` × genes.

        Examples
        --------
        >>> import numpy as np
        >>> from michigan.baselines import PPCA
        >>> ppca = PPCA(n_components=2).fit(np.random.default_rng(0).normal(size=(200, 8)))
        >>> ppca.sample(5, seed=1).shape
        (5, 8)
        """
        check_is_fitted(self, "loadings_")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        rng = np.random.default_rng(seed)
        cells = self.inverse_transform(rng.standard_normal((n_samples, self.n_components)))
        if noise:
            cells += np.sqrt(self.noise_variance_) * rng.standard_normal(cells.shape)
        return cells
