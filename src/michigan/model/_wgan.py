"""WGAN-GP: the unconditional baseline of MichiGAN (noise only, no code)."""

from __future__ import annotations

from anndata import AnnData

from .._docs import insert_docs
from ._gan_base import GANModelBase


@insert_docs
class WGANGP(GANModelBase):
    """Wasserstein GAN with gradient penalty (Gulrajani et al., 2017) for single cells.

    The unconditional baseline of the MichiGAN paper: the generator maps 128-d noise to a
    cell and the critic scores cells alone (no code, no projection term). It trains on the
    same plan as :class:`~michigan.MichiGAN` (:class:`~michigan.train.WGANTrainingPlan`) and,
    like it, learns the log-normalised registered counts, ``log1p(1e4 · x / Σx)`` per cell,
    unless ``gan_layer`` names a processed layer to learn as it is. Cells have no codes:
    :meth:`get_latent_representation` and ``generate(codes=...)`` raise.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_noise
        Width of the noise (128 in the paper).
    %(gan_network_options)s

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(seed=0)
    >>> mg.WGANGP.setup_anndata(adata, layer="counts")
    >>> model = mg.WGANGP(adata)
    >>> model.train()
    >>> generated = model.generate(n_samples=3000, seed=0)
    """

    def __init__(self, adata: AnnData | None = None, n_noise: int = 128, **network_kwargs):
        if adata is None:
            raise ValueError("WGANGP needs the AnnData it learns: WGANGP(adata, ...)")
        super().__init__(adata)
        self.module = self._build_module(0, n_noise, **network_kwargs)
        self._model_summary_string = (
            f"WGAN-GP with n_noise={n_noise}; the GAN learns {self.expression_}."
        )
        self.init_params_ = self._get_init_params(locals())
