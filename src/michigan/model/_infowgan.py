"""InfoWGAN-GP and its semi-supervised variant: the paper's GAN-side disentanglement baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy import sparse

from .._docs import insert_docs
from .._validation import check_non_negative, check_positive_int, get_matrix, validate_obs_keys
from ..module import GAN_KEYS, InfoGANModule
from ._gan_base import GANModelBase


@insert_docs
class InfoWGANGP(GANModelBase):
    """InfoWGAN-GP (Chen et al. 2016 on a WGAN-GP): the paper's GAN-side disentanglement baseline.

    The generator maps ``[c, noise]`` to a cell, with a structured code ``c ~ N(0, I)`` of
    ``n_code`` dimensions; the critic is unconditional and shares its body with a Q-head that
    predicts ``c`` from a generated cell. Generator and Q minimise
    ``info_weight · ‖Q(G(c, n)) − c‖²`` (a Gaussian of fixed variance) besides the WGAN-GP
    losses, which makes ``c`` informative about the generated cell. The codes of real cells
    are ``Q(x)`` (:meth:`get_latent_representation`).

    **Semi-supervised variant.** With ``supervised_factors``, Q is also fitted on real cells
    whose factor values are known: the first ``k`` code dimensions are regressed on the ``k``
    standardised factors (category codes for categorical ones) of a random
    ``labelled_fraction`` of the cells (cells with a missing value are unlabelled).

    Like :class:`~michigan.WGANGP` it learns the log-normalised registered counts (or a
    processed ``gan_layer``). :meth:`generate` draws codes from the prior ``N(0, I)`` when none
    are given, and generates a counterpart of each cell of ``adata`` from ``Q(x)``.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_code
        Width of the structured code (the paper's 10).
    n_noise
        Width of the noise (118: 128 inputs in all).
    info_weight
        Weight of the information term.
    supervised_factors
        ``.obs`` columns of the semi-supervised variant (at most ``n_code``), or ``None``.
    labelled_fraction
        Share of cells whose factors the semi-supervised variant sees.
    supervised_weight
        Weight of its supervised term.
    seed
        Seed of the choice of labelled cells.
    %(gan_network_options)s

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(seed=0)
    >>> mg.InfoWGANGP.setup_anndata(adata, layer="counts")
    >>> model = mg.InfoWGANGP(adata, supervised_factors=["path", "step"], labelled_fraction=0.1)
    >>> model.train(max_steps=2000)
    >>> codes = model.get_latent_representation()  # Q(x): one code per cell
    >>> mg.metrics.spearman_gap(codes, adata.obs[["path", "step"]])
    """

    _module_cls = InfoGANModule

    def __init__(
        self,
        adata: AnnData | None = None,
        n_code: int = 10,
        n_noise: int = 118,
        info_weight: float = 1.0,
        supervised_factors: str | Sequence[str] | None = None,
        labelled_fraction: float = 0.1,
        supervised_weight: float = 1.0,
        seed: int = 0,
        **network_kwargs,
    ):
        check_positive_int(n_code, "n_code")
        check_non_negative(info_weight, "info_weight")
        check_non_negative(supervised_weight, "supervised_weight")
        if adata is None:
            raise ValueError("InfoWGANGP needs the AnnData it learns: InfoWGANGP(adata, ...)")
        if isinstance(supervised_factors, str):
            supervised_factors = [supervised_factors]
        supervised_factors = list(supervised_factors or [])
        validate_obs_keys(adata, supervised_factors)
        if len(supervised_factors) > n_code:
            raise ValueError(
                f"{len(supervised_factors)} supervised factors but n_code={n_code}; each factor "
                "takes one code dimension: raise n_code or name fewer factors"
            )
        if supervised_factors and not 0 < labelled_fraction <= 1:
            raise ValueError(f"labelled_fraction must lie in (0, 1], got {labelled_fraction}")
        super().__init__(adata)
        self.module = self._build_module(
            n_code,
            n_noise,
            info_weight=info_weight,
            supervised_weight=supervised_weight,
            **network_kwargs,
        )
        self.supervised_factors = supervised_factors
        self._targets = _supervised_targets(adata, supervised_factors, labelled_fraction, seed)
        kind = "semi-supervised " if supervised_factors else ""
        self._model_summary_string = (
            f"{kind}InfoWGAN-GP with n_code={n_code}, n_noise={n_noise}, info_weight="
            f"{info_weight}; the GAN learns {self.expression_}."
        )
        self.init_params_ = self._get_init_params(locals())

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        if self._targets is None:
            return {}
        target, mask = self._targets
        return {GAN_KEYS.INFO_TARGET: target, GAN_KEYS.INFO_MASK: mask}

    @torch.inference_mode()
    def _encode(
        self,
        adata: AnnData,
        indices: Sequence[int] | None,
        give_mean: bool,
        batch_size: int | None,
    ) -> np.ndarray:
        """``Q(x)`` of the cells' expression (as the GAN learns it)."""
        if not give_mean:
            raise ValueError("Q(x) gives one code per cell, not a posterior: pass give_mean=True")
        self._check_if_trained(warn=True)
        batch_size = 1024 if batch_size is None else check_positive_int(batch_size, "batch_size")
        matrix = get_matrix(adata, self.gan_layer)
        if indices is not None:
            matrix = matrix[np.asarray(indices)]
        module = self.module
        module.eval()
        chunks = []
        for start in range(0, matrix.shape[0], batch_size):
            block = matrix[start : start + batch_size]
            block = block.toarray() if sparse.issparse(block) else np.asarray(block)
            x = torch.as_tensor(block, dtype=torch.float32, device=module.device)
            chunks.append(module.critic.predict_code(module.normalize(x)).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, module.n_code), np.float32)

    def _sample_codes(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``n`` codes from the prior ``N(0, I)``."""
        codes = rng.standard_normal((n, self.module.n_code)).astype(np.float32)
        return codes, {"generated_from": np.full(n, "prior")}


def _supervised_targets(
    adata: AnnData, factors: list[str], labelled_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Standardised factor values (0 where unlabelled) and the mask of labelled entries."""
    if not factors:
        return None
    columns = []
    for name in factors:
        column = adata.obs[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column
        ):
            codes = pd.Categorical(column).codes.astype(np.float64)
            values = np.where(codes < 0, np.nan, codes)
        else:
            values = column.to_numpy(dtype=np.float64)
        sd = np.nanstd(values)
        columns.append((values - np.nanmean(values)) / (sd if sd > 0 else 1.0))
    target = np.column_stack(columns)
    labelled = np.random.default_rng(seed).random(adata.n_obs) < labelled_fraction
    mask = np.isfinite(target) & labelled[:, None]
    if not mask.any():
        raise ValueError(
            "no cell is labelled: raise labelled_fraction or fill the supervised factors"
        )
    return np.where(mask, target, 0.0).astype(np.float32), mask.astype(np.float32)
