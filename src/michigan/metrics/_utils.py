"""Input handling shared by the metrics: AnnData or arrays in, validated numpy out."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from sklearn.decomposition import PCA

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: Factors given as plain arrays get these names (``factor_0``, ``factor_1``, ...).
FACTOR_PREFIX = "factor_"
#: Latents given as plain arrays get these names (``latent_0``, ``latent_1``, ...).
LATENT_PREFIX = "latent_"


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy generator from a seed (or the generator itself)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def subsample_index(n_obs: int, n_max: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``n_max`` of ``n_obs`` rows, drawn without replacement."""
    if n_max is None or n_obs <= n_max:
        return np.arange(n_obs)
    return np.sort(rng.choice(n_obs, size=n_max, replace=False))


def _check_finite(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"{what} contain NaN or infinite values; drop or impute those cells first"
        )


def resolve_codes(
    data: AnnData | ArrayLike, latent_key: str | None, *, what: str = "codes"
) -> tuple[np.ndarray, list[str]]:
    """The latent codes of ``data`` as a float array ``(n_cells, n_latent)`` and their names."""
    if isinstance(data, AnnData):
        if latent_key is None:
            raise ValueError(
                f"{what} come from an AnnData: pass latent_key=, one of its .obsm keys "
                f"{list(data.obsm.keys())}"
            )
        if latent_key not in data.obsm:
            raise ValueError(
                f"latent_key {latent_key!r} is not in .obsm (keys: {list(data.obsm.keys())}); "
                "store the representation first, e.g. "
                "adata.obsm['X_michigan'] = model.get_latent_representation()"
            )
        data = data.obsm[latent_key]
    names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else None
    codes = data.toarray() if sparse.issparse(data) else np.asarray(data)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (cells × latents), got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.number) and codes.dtype != bool:
        raise ValueError(f"{what} must be numeric, got dtype {codes.dtype}")
    codes = codes.astype(np.float64, copy=False)
    _check_finite(codes, what)
    if names is None:
        names = [f"{LATENT_PREFIX}{j}" for j in range(codes.shape[1])]
    return codes, names


def resolve_factors(
    data: AnnData | ArrayLike,
    factors: str | Sequence[str] | pd.DataFrame | pd.Series | ArrayLike,
    n_obs: int,
) -> pd.DataFrame:
    """The ground-truth factors as a DataFrame with one column per factor and ``n_obs`` rows."""
    if factors is None:
        raise ValueError("pass factors=: .obs keys of an AnnData, or a DataFrame / array")
    if isinstance(factors, str) or (
        isinstance(factors, Sequence) and len(factors) > 0 and isinstance(factors[0], str)
    ):
        keys = [factors] if isinstance(factors, str) else list(factors)
        if not isinstance(data, AnnData):
            raise ValueError(
                f"factors {keys} are .obs keys, which need an AnnData; with arrays pass the "
                "factor values themselves (a DataFrame or an array of shape cells × factors)"
            )
        missing = [k for k in keys if k not in data.obs.columns]
        if missing:
            raise ValueError(
                f"factors {missing} are not columns of .obs (columns: {list(data.obs.columns)})"
            )
        frame = data.obs[keys].reset_index(drop=True)
    elif isinstance(factors, pd.DataFrame):
        frame = factors.reset_index(drop=True)
    elif isinstance(factors, pd.Series):
        frame = factors.rename(factors.name or f"{FACTOR_PREFIX}0").to_frame()
        frame = frame.reset_index(drop=True)
    else:
        values = np.asarray(factors)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError(f"factors must be 1-D or 2-D, got shape {values.shape}")
        frame = pd.DataFrame({f"{FACTOR_PREFIX}{k}": values[:, k] for k in range(values.shape[1])})
    if frame.shape[1] == 0:
        raise ValueError("factors is empty; pass at least one ground-truth factor")
    if len(frame) != n_obs:
        raise ValueError(
            f"factors have {len(frame)} rows but the codes have {n_obs} cells; "
            "pass one factor value per cell, in the same order"
        )
    frame.columns = [str(c) for c in frame.columns]
    for name, column in frame.items():
        if column.isna().any():
            raise ValueError(
                f"factor {name!r} has missing values; drop those cells first, "
                f"e.g. adata[adata.obs[{name!r}].notna()]"
            )
        if column.nunique() < 2:
            raise ValueError(
                f"factor {name!r} takes a single value (fewer than 2 classes), so it carries "
                "no information; leave it out of factors"
            )
    return frame


def resolve_real_labels(
    real: AnnData | ArrayLike, labels: str | ArrayLike, n_real: int
) -> pd.Series:
    """One label per real cell (cell type, cluster), from an array or an ``.obs`` key."""
    if isinstance(labels, str):
        if not isinstance(real, AnnData):
            raise ValueError(
                f"labels={labels!r} is an .obs key, which needs an AnnData; "
                "with arrays pass the labels themselves"
            )
        if labels not in real.obs.columns:
            raise ValueError(
                f"labels {labels!r} is not a column of the real AnnData's .obs "
                f"(columns: {list(real.obs.columns)})"
            )
        labels = real.obs[labels]
    values = pd.Series(np.asarray(labels).ravel())
    if values.size != n_real:
        raise ValueError(
            f"labels has {values.size} entries but there are {n_real} real cells; pass one "
            "label per real cell"
        )
    if values.isna().any():
        raise ValueError("labels has missing values; drop those real cells first")
    return values


def resolve_posterior_var(
    data: AnnData | ArrayLike, posterior_var: str | ArrayLike, shape: tuple[int, int]
) -> np.ndarray:
    """Posterior variances matching the codes' ``shape``, from an array or an ``.obsm`` key."""
    if isinstance(posterior_var, str):
        if not isinstance(data, AnnData):
            raise ValueError(
                f"posterior_var={posterior_var!r} is an .obsm key, which needs an AnnData; "
                "with arrays pass the variances themselves"
            )
        if posterior_var not in data.obsm:
            raise ValueError(
                f"posterior_var {posterior_var!r} is not in .obsm (keys: {list(data.obsm.keys())})"
            )
        posterior_var = data.obsm[posterior_var]
    variances = np.asarray(posterior_var, dtype=np.float64)
    if variances.ndim == 1 and variances.shape[0] == shape[1]:
        variances = np.broadcast_to(variances, shape)
    if variances.shape != shape:
        raise ValueError(
            f"posterior_var has shape {variances.shape} but the codes have shape {shape}; "
            "pass one variance per cell and latent (scvi-tools: "
            "get_latent_representation(return_dist=True) gives means and variances)"
        )
    _check_finite(variances, "posterior_var")
    if np.any(variances <= 0):
        raise ValueError(
            "posterior_var must be strictly positive (variances, not log-variances or SDs)"
        )
    return variances


def is_categorical(column: pd.Series) -> bool:
    """Whether a factor is unordered or non-numeric (no quantile binning, no ranks by value)."""
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def discretize_factor(column: pd.Series, n_bins: int) -> np.ndarray:
    """Integer labels ``0..G-1`` of a factor.

    Categorical, string and boolean factors and numeric factors with at most ``n_bins``
    distinct values keep their values; other numeric factors are cut into ``n_bins``
    quantile bins (quartiles for ``n_bins=4``; tied quantiles merge bins).
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    if is_categorical(column) or column.nunique() <= n_bins:
        return pd.factorize(column, sort=True)[0].astype(np.int64)
    binned = pd.qcut(column.to_numpy(dtype=np.float64), n_bins, labels=False, duplicates="drop")
    return pd.factorize(binned, sort=True)[0].astype(np.int64)


def factor_as_numeric(column: pd.Series) -> np.ndarray:
    """A factor as floats: numeric values as they are, categories as their codes."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=np.float64)
    if is_categorical(column):
        return pd.factorize(column, sort=True)[0].astype(np.float64)
    return column.to_numpy(dtype=np.float64)


def largest_gaps(scores: pd.DataFrame) -> pd.Series:
    """Per factor (column), the largest minus the second-largest score, each clamped ≥ 0."""
    if scores.shape[0] < 2:
        raise ValueError(
            "a gap needs at least 2 latents (the largest and the second-largest score); "
            f"got {scores.shape[0]}"
        )
    ordered = np.sort(np.clip(scores.to_numpy(), 0.0, None), axis=0)
    return pd.Series(ordered[-1] - ordered[-2], index=scores.columns, name="gap")


def expression_matrix(
    data: AnnData | ArrayLike, layer: str | None, *, what: str
) -> tuple[np.ndarray | sparse.spmatrix, pd.Index | None]:
    """The expression matrix of ``data`` (dense or sparse, never copied) and its gene names."""
    if isinstance(data, AnnData):
        if layer is None:
            matrix = data.X
        elif layer not in data.layers:
            raise ValueError(
                f"layer {layer!r} is not in the {what} AnnData's .layers "
                f"(layers: {list(data.layers.keys())}); pass layer=None to use .X"
            )
        else:
            matrix = data.layers[layer]
        if matrix is None:
            raise ValueError(f"the {what} AnnData has no .X; pass layer= to pick a matrix")
        return matrix, data.var_names
    if layer is not None:
        raise ValueError(f"layer={layer!r} applies to AnnData input; the {what} data is an array")
    if isinstance(data, pd.DataFrame):
        return data.to_numpy(), data.columns
    matrix = data if sparse.issparse(data) else np.asarray(data)
    if matrix.ndim != 2:
        raise ValueError(f"the {what} data must be 2-D (cells × genes), got shape {matrix.shape}")
    return matrix, None


def _check_same_width(first, second, message: str) -> None:
    """Raise ``message`` (formatted with both widths) unless the matrices have as many columns."""
    if first.shape[1] != second.shape[1]:
        raise ValueError(message.format(first.shape[1], second.shape[1]))


def matched_codes(
    predicted: AnnData | ArrayLike, real: AnnData | ArrayLike, latent_key: str | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Predicted and real codes of one representation, and the latents' names."""
    predicted_codes, names = resolve_codes(predicted, latent_key, what="predicted latents")
    real_codes, _ = resolve_codes(real, latent_key, what="real latents")
    _check_same_width(
        predicted_codes,
        real_codes,
        "predicted latents have {} dimensions but real latents "
        "have {}; compare the same representation",
    )
    return predicted_codes, real_codes, names


def matched_expression(
    real: AnnData | ArrayLike, generated: AnnData | ArrayLike, layer: str | None
) -> tuple[np.ndarray | sparse.spmatrix, np.ndarray | sparse.spmatrix]:
    """Real and generated expression matrices, checked to share their genes."""
    real_matrix, real_genes = expression_matrix(real, layer, what="real")
    gen_matrix, gen_genes = expression_matrix(generated, layer, what="generated")
    _check_same_width(
        real_matrix,
        gen_matrix,
        "real cells have {} genes but generated cells have {}; generate over the same genes",
    )
    if real_genes is not None and gen_genes is not None and not real_genes.equals(gen_genes):
        raise ValueError(
            "real and generated cells list different genes (or the same in another order); "
            "align them first, e.g. generated[:, real.var_names]"
        )
    for matrix, what in ((real_matrix, "real"), (gen_matrix, "generated")):
        if matrix.shape[0] < 2:
            raise ValueError(f"the {what} data needs at least 2 cells, got {matrix.shape[0]}")
    return real_matrix, gen_matrix


def take_rows(matrix: np.ndarray | sparse.spmatrix, rows: np.ndarray, *, what: str):
    """Rows of a matrix as float64, sparse kept sparse (CSR); checked for NaNs."""
    if sparse.issparse(matrix):
        if matrix.format != "csr":  # callers that slice repeatedly convert once beforehand
            matrix = matrix.tocsr()
        block = sparse.csr_matrix(matrix[rows], dtype=np.float64)
        _check_finite(block.data, f"the {what} expression values")
    else:
        block = np.asarray(matrix[rows], dtype=np.float64)
        _check_finite(block, f"the {what} expression values")
    return block


def fit_pca(matrix: np.ndarray | sparse.spmatrix, n_pcs: int, seed: int) -> PCA:
    """A PCA with at most ``n_pcs`` components; sparse input stays sparse (ARPACK)."""
    is_sparse = sparse.issparse(matrix)
    n_max = min(matrix.shape) - (1 if is_sparse else 0)
    pca = PCA(
        n_components=max(1, min(n_pcs, n_max)),
        svd_solver="arpack" if is_sparse else "auto",
        random_state=seed,
    )
    return pca.fit(matrix)


def principal_components(
    blocks: Sequence[np.ndarray | sparse.spmatrix], n_pcs: int, seed: int
) -> list[np.ndarray]:
    """Project row blocks onto the principal components of all of them together.

    Sparse blocks stay sparse (ARPACK centres implicitly), so a subsample of a large sparse
    matrix is never densified gene by gene.
    """
    if any(sparse.issparse(b) for b in blocks):
        stacked = sparse.vstack([sparse.csr_matrix(b) for b in blocks]).tocsr()
    else:
        stacked = np.vstack(blocks)
    scores = fit_pca(stacked, n_pcs, seed).transform(stacked)
    bounds = np.cumsum([0] + [b.shape[0] for b in blocks])
    return [scores[start:stop] for start, stop in pairwise(bounds)]
