"""WGAN-GP: the unconditional baseline of MichiGAN (noise only, no code)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anndata import AnnData

from .._validation import check_positive_int
from ..module._gan import CRITIC_HIDDEN, GENERATOR_HIDDEN
from ..train._wgan_plan import ADAM_BETAS, GP_LAMBDA, N_CRITIC
from ._gan_base import DEFAULT_MAX_EPOCHS, GANModelBase


class WGANGP(GANModelBase):
    """Wasserstein GAN with gradient penalty (Gulrajani et al., 2017) for single cells.

    The unconditional baseline of the MichiGAN paper: the generator maps 128-d noise to a
    cell and the critic scores cells alone (no code, no projection term). It trains on the
    same plan as :class:`~michigan.MichiGAN` (:class:`~michigan.train.WGANTrainingPlan`) and,
    like it, learns the log-normalised registered counts, ``log1p(1e4 · x / Σx)`` per cell,
    unless ``gan_layer`` names a processed layer to learn as it is.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_noise
        Width of the noise (128 in the paper).
    gan_layer, log_normalize, target_sum, generator_hidden, critic_hidden, n_features,
    critic_normalization, output_activation, dropout_rate
        As in :class:`~michigan.MichiGAN`.
    **module_kwargs
        Passed to :class:`~michigan.module.GANModule`.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(seed=0)
    >>> mg.WGANGP.setup_anndata(adata, layer="counts")
    >>> model = mg.WGANGP(adata)
    >>> model.train()
    >>> generated = model.generate(n_samples=3000, seed=0)
    """

    def __init__(
        self,
        adata: AnnData | None = None,
        n_noise: int = 128,
        gan_layer: str | None = None,
        log_normalize: bool | None = None,
        target_sum: float = 1e4,
        generator_hidden: Sequence[int] = GENERATOR_HIDDEN,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        critic_normalization: str = "layer",
        output_activation: str | None = "relu",
        dropout_rate: float = 0.2,
        **module_kwargs,
    ):
        check_positive_int(n_noise, "n_noise")
        if adata is None:
            raise ValueError("WGANGP needs the AnnData it learns: WGANGP(adata, ...)")
        super().__init__(adata)
        self.module = self._make_module(
            0,
            n_noise,
            "mean",
            gan_layer,
            log_normalize,
            target_sum,
            output_activation,
            generator_hidden=tuple(generator_hidden),
            critic_hidden=tuple(critic_hidden),
            n_features=n_features,
            critic_normalization=critic_normalization,
            dropout_rate=dropout_rate,
            **module_kwargs,
        )
        self._model_summary_string = (
            f"WGAN-GP with n_noise={n_noise}; the GAN learns {self.expression_}."
        )
        self.init_params_ = self._get_init_params(locals())

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 128,
        n_critic: int = N_CRITIC,
        lr_generator: float = 1e-4,
        lr_critic: float = 1e-4,
        betas: Sequence[float] = ADAM_BETAS,
        gp_lambda: float = GP_LAMBDA,
        prediction: bool = False,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        plan_kwargs: dict | None = None,
        datasplitter_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the generator and the critic.

        Parameters
        ----------
        max_epochs, batch_size, n_critic, lr_generator, lr_critic, betas, gp_lambda,
        prediction, accelerator, devices, plan_kwargs, datasplitter_kwargs
            As in :meth:`michigan.MichiGAN.train`.
        **trainer_kwargs
            Passed to the Lightning trainer (``strategy="ddp"``, ``callbacks``,
            ``ckpt_path``, ``enable_progress_bar``, ...).

        Examples
        --------
        >>> model.train(max_epochs=1000, accelerator="gpu")  # the paper's setting
        """
        max_epochs = DEFAULT_MAX_EPOCHS if max_epochs is None else max_epochs
        self._check_gan_train_args(max_epochs, batch_size, n_critic, lr_generator, lr_critic)
        return self._train_gan(
            max_epochs=max_epochs,
            batch_size=batch_size,
            n_critic=n_critic,
            lr_generator=lr_generator,
            lr_critic=lr_critic,
            betas=betas,
            gp_lambda=gp_lambda,
            prediction=prediction,
            accelerator=accelerator,
            devices=devices,
            extra_tensors={},
            plan_kwargs=plan_kwargs,
            datasplitter_kwargs=datasplitter_kwargs,
            trainer_kwargs=trainer_kwargs,
        )

    def generate(
        self, n_samples: int | None = None, seed: int | None = None, batch_size: int = 1024
    ) -> AnnData:
        """Generate cells from noise.

        Parameters
        ----------
        n_samples
            Number of cells; defaults to the number of training cells.
        seed
            Seed of the noise; ``None`` draws one from torch's global generator (seeded by
            ``scvi.settings.seed``); the seed used is in ``.uns["michigan"]["seed"]``.
        batch_size
            Cells generated at a time.

        Returns
        -------
        AnnData of the generated cells (expression in ``.X``, in the space the GAN learned).

        Examples
        --------
        >>> cells = model.generate(n_samples=3000, seed=0)
        """
        n = self.adata.n_obs if n_samples is None else check_positive_int(n_samples, "n_samples")
        seed = self._resolve_seed(seed)
        expression = self._generate_expression(None, n, seed, batch_size)
        obs = {"code_source": np.full(n, "noise")}
        return self._cells(expression, obs, None, {"seed": seed})
