"""InfoWGAN-GP and its semi-supervised variant: the paper's GAN-side disentanglement baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy import sparse
from torch import nn

from .._validation import check_non_negative, check_positive_int, get_matrix, validate_obs_keys
from ..module._gan import CRITIC_HIDDEN, GENERATOR_HIDDEN, GANModule, ProjectionCritic
from ..train._wgan_plan import ADAM_BETAS, GP_LAMBDA, N_CRITIC, WGANTrainingPlan, gradient_penalty
from ._gan_base import DEFAULT_MAX_EPOCHS, GANModelBase

#: Minibatch keys of the supervised targets of the semi-supervised variant and their mask.
INFO_TARGET_KEY = "info_target"
INFO_MASK_KEY = "info_mask"


class InfoCritic(ProjectionCritic):
    """An unconditional critic whose body also feeds a Q-head that predicts the code.

    ``Q(x) = head(body(x))`` is the mean of a Gaussian of fixed variance over the code, so its
    negative log-likelihood is a squared error. The head belongs to the critic's parameters and
    is trained by the critic's optimiser.

    Parameters
    ----------
    n_input
        Number of genes.
    n_code
        Width of the structured code ``c`` that Q predicts.
    **kwargs
        Passed to :class:`~michigan.module.ProjectionCritic` (``n_code`` there is 0).

    Examples
    --------
    >>> critic = InfoCritic(n_input=100, n_code=10)
    >>> critic(torch.randn(4, 100)).shape, critic.predict_code(torch.randn(4, 100)).shape
    (torch.Size([4]), torch.Size([4, 10]))
    """

    def __init__(self, n_input: int, n_code: int, **kwargs):
        super().__init__(n_input, 0, **kwargs)
        self.q_head = nn.Linear(self.body.n_output, n_code)

    def predict_code(self, x: torch.Tensor) -> torch.Tensor:
        """Q's estimate of the code of each cell, shape ``(n, n_code)``."""
        return self.q_head(self.body(x))

    def score_and_code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``D(x)`` and codes ``Q(x)`` from one pass through the shared body."""
        body = self.body(x)
        return self.linear(self.features(body)).squeeze(-1), self.q_head(body)


class InfoGANModule(GANModule):
    """Generator of ``[c, noise]`` and an unconditional critic with a Q-head.

    The code ``c`` is drawn from ``N(0, I)`` for every minibatch (it is the generator's
    structured input, not a property of the real cells); see
    :class:`~michigan.module.GANModule` for the other arguments.

    Examples
    --------
    >>> module = InfoGANModule(n_genes=100, n_code=10, n_noise=118)
    >>> module.critic.predict_code(torch.randn(4, 100)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        n_genes: int,
        n_code: int = 10,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        critic_normalization: str = "layer",
        critic_dropout_rate: float = 0.0,
        negative_slope: float = 0.2,
        **kwargs,
    ):
        super().__init__(
            n_genes,
            n_code,
            critic_hidden=critic_hidden,
            critic_normalization="none",  # the critic is replaced below (no warning twice)
            negative_slope=negative_slope,
            **kwargs,
        )
        self.critic = InfoCritic(
            n_genes,
            n_code,
            n_hidden=tuple(critic_hidden),
            n_features=n_features,
            normalization=critic_normalization,
            dropout_rate=critic_dropout_rate,
            negative_slope=negative_slope,
        )

    def get_data_and_code(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch's expression and fresh codes ``c ~ N(0, I)`` for the generator."""
        x = self.normalize(tensors[self.expression_key])
        return x, torch.randn(x.shape[0], self.n_code, device=x.device, dtype=x.dtype)


class InfoWGANTrainingPlan(WGANTrainingPlan):
    """The WGAN-GP plan plus InfoGAN's mutual-information term (and a supervised one).

    Critic (with Q) and generator both add ``info_weight · ‖Q(G(c, n)) − c‖²`` (mean over
    cells and code dimensions) to their WGAN-GP losses; with supervised targets in the
    minibatch, the critic also adds ``supervised_weight · ‖Q(x)[:, :k] − y‖²`` over the
    labelled real cells, which ties the first ``k`` code dimensions to the ``k`` factors.

    Parameters
    ----------
    module
        An :class:`InfoGANModule`.
    info_weight
        Weight ``λ_info`` of the information term.
    supervised_weight
        Weight of the supervised term (semi-supervised variant).
    **kwargs
        Passed to :class:`~michigan.train.WGANTrainingPlan`.

    Examples
    --------
    >>> plan = InfoWGANTrainingPlan(InfoGANModule(n_genes=100), info_weight=1.0)
    """

    def __init__(
        self,
        module: InfoGANModule,
        info_weight: float = 1.0,
        supervised_weight: float = 1.0,
        **kwargs,
    ):
        super().__init__(module, **kwargs)
        self.info_weight = info_weight
        self.supervised_weight = supervised_weight
        self._batch: dict[str, torch.Tensor] = {}
        self._info_sum = torch.zeros(())

    def supervised_loss(self, predicted: torch.Tensor) -> torch.Tensor:
        """Squared error of Q's codes of the minibatch's real cells on their labels (0 if none)."""
        if INFO_TARGET_KEY not in self._batch:
            return predicted.new_zeros(())
        target, mask = self._batch[INFO_TARGET_KEY], self._batch[INFO_MASK_KEY]
        error = mask * (predicted[:, : target.shape[1]] - target) ** 2
        return error.sum() / mask.sum().clamp_min(1.0)

    def critic_loss(
        self, x: torch.Tensor, code: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """WGAN-GP critic loss plus the information and supervised terms."""
        module = self.module
        noise = module.sample_noise(x.shape[0], device=x.device)
        with torch.no_grad():
            fake = module.generator(code, noise)
        scores, predicted = module.critic.score_and_code(torch.cat([x, fake]))
        real_score, fake_score = scores.chunk(2)
        wasserstein = real_score.mean() - fake_score.mean()
        penalty = gradient_penalty(module.critic, x, fake)
        n = x.shape[0]
        info = ((predicted[n:] - code) ** 2).mean()
        self._info_sum = self._info_sum + info.detach()
        loss = self.gp_lambda * penalty - wasserstein + self.info_weight * info
        loss = loss + self.supervised_weight * self.supervised_loss(predicted[:n])
        return loss, wasserstein, penalty

    def generator_loss(self, code: torch.Tensor, n: int) -> torch.Tensor:
        """``−E[D(G(c, n))] + λ_info · ‖Q(G(c, n)) − c‖²``."""
        fake = self.module.generator(code, self.module.sample_noise(n, device=self.device))
        score, predicted = self.module.critic.score_and_code(fake)
        return -score.mean() + self.info_weight * ((predicted - code) ** 2).mean()

    def on_train_epoch_start(self) -> None:
        """Reset the epoch's sums of the losses."""
        super().on_train_epoch_start()
        self._info_sum = torch.zeros((), device=self.device)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Keep the minibatch (for the supervised targets), then the WGAN-GP step."""
        self._batch = batch
        return super().training_step(batch, batch_idx)

    def _log_epoch(self) -> None:
        super()._log_epoch()
        info = self._info_sum / max(self._n_critic_epoch, 1)
        self.log(
            "info_loss_train", info, on_step=False, on_epoch=True, prog_bar=True, batch_size=1
        )


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

    Like :class:`~michigan.WGANGP` it learns the log-normalised registered counts.

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
    generator_hidden, critic_hidden, n_features, critic_normalization, output_activation,
    dropout_rate, **module_kwargs
        As in :class:`~michigan.WGANGP`.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(seed=0)
    >>> mg.InfoWGANGP.setup_anndata(adata, layer="counts")
    >>> model = mg.InfoWGANGP(adata, supervised_factors=["path", "step"], labelled_fraction=0.1)
    >>> model.train(max_epochs=30)
    >>> adata.obsm["X_infowgan"] = model.get_latent_representation()
    >>> generated = model.generate(n_samples=3000, seed=0)
    """

    _training_plan_cls = InfoWGANTrainingPlan
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
        generator_hidden: Sequence[int] = GENERATOR_HIDDEN,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        critic_normalization: str = "layer",
        output_activation: str | None = "relu",
        dropout_rate: float = 0.2,
        **module_kwargs,
    ):
        check_positive_int(n_code, "n_code")
        check_positive_int(n_noise, "n_noise", minimum=0)
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
        self.module = self._make_module(
            n_code,
            n_noise,
            "mean",
            None,
            None,
            1e4,
            output_activation,
            generator_hidden=tuple(generator_hidden),
            critic_hidden=tuple(critic_hidden),
            n_features=n_features,
            critic_normalization=critic_normalization,
            dropout_rate=dropout_rate,
            **module_kwargs,
        )
        self.info_weight, self.supervised_weight = info_weight, supervised_weight
        self.supervised_factors = supervised_factors
        self._targets = _supervised_targets(adata, supervised_factors, labelled_fraction, seed)
        kind = "semi-supervised " if supervised_factors else ""
        self._model_summary_string = (
            f"{kind}InfoWGAN-GP with n_code={n_code}, n_noise={n_noise}, info_weight="
            f"{info_weight}; the GAN learns {self.expression_}."
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
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        plan_kwargs: dict | None = None,
        datasplitter_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the generator and the critic with its Q-head.

        Parameters
        ----------
        max_epochs, batch_size, n_critic, lr_generator, lr_critic, betas, gp_lambda,
        accelerator, devices, plan_kwargs, datasplitter_kwargs, **trainer_kwargs
            As in :meth:`michigan.WGANGP.train`.

        Examples
        --------
        >>> model.train(max_epochs=1000, accelerator="gpu")  # the paper's setting
        """
        max_epochs = DEFAULT_MAX_EPOCHS if max_epochs is None else max_epochs
        self._check_gan_train_args(max_epochs, batch_size, n_critic, lr_generator, lr_critic)
        extra = {}
        if self._targets is not None:
            target, mask = self._targets
            extra = {INFO_TARGET_KEY: target, INFO_MASK_KEY: mask}
        plan_kwargs = {
            "info_weight": self.info_weight,
            "supervised_weight": self.supervised_weight,
            **(plan_kwargs or {}),
        }
        return self._train_gan(
            max_epochs=max_epochs,
            batch_size=batch_size,
            n_critic=n_critic,
            lr_generator=lr_generator,
            lr_critic=lr_critic,
            betas=betas,
            gp_lambda=gp_lambda,
            prediction=False,
            accelerator=accelerator,
            devices=devices,
            extra_tensors=extra,
            plan_kwargs=plan_kwargs,
            datasplitter_kwargs=datasplitter_kwargs,
            trainer_kwargs=trainer_kwargs,
        )

    @torch.inference_mode()
    def get_latent_representation(
        self, adata: AnnData | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """The codes of cells, ``Q(x)`` of their log-normalised expression.

        Parameters
        ----------
        adata
            AnnData with the training genes (in the registered layer); defaults to the
            training data.
        batch_size
            Cells per chunk.

        Returns
        -------
        Array of shape ``(n_cells, n_code)``.

        Examples
        --------
        >>> adata.obsm["X_infowgan"] = model.get_latent_representation()
        """
        self._check_if_trained(warn=True)
        adata = self.adata if adata is None else adata
        matrix = get_matrix(adata, self.registered_layer)
        module = self.module
        module.eval()
        chunks = []
        for start in range(0, adata.n_obs, batch_size):
            block = matrix[start : start + batch_size]
            block = block.toarray() if sparse.issparse(block) else np.asarray(block)
            x = torch.as_tensor(block, dtype=torch.float32, device=module.device)
            chunks.append(module.critic.predict_code(module.normalize(x)).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, module.n_code), np.float32)

    def generate(
        self,
        codes: np.ndarray | None = None,
        n_samples: int | None = None,
        seed: int | None = None,
        batch_size: int = 1024,
    ) -> AnnData:
        """Generate cells from codes, or from codes drawn from ``N(0, I)``.

        Parameters
        ----------
        codes
            Array of shape ``(n, n_code)``; drawn from the prior when ``None``.
        n_samples
            Cells to draw without ``codes`` (default: as many as training cells).
        seed
            Seed of the codes and the noise (see :meth:`michigan.WGANGP.generate`).
        batch_size
            Cells generated at a time.

        Returns
        -------
        AnnData of the generated cells, expression in ``.X`` and codes in
        ``.obsm["X_michigan"]``.

        Examples
        --------
        >>> cells = model.generate(n_samples=3000, seed=0)
        """
        seed = self._resolve_seed(seed)
        n_code = self.module.n_code
        if codes is None:
            n = (
                self.adata.n_obs
                if n_samples is None
                else check_positive_int(n_samples, "n_samples")
            )
            codes = np.random.default_rng(seed).standard_normal((n, n_code)).astype(np.float32)
            source = "prior"
        else:
            codes = np.atleast_2d(np.asarray(codes, dtype=np.float32))
            if codes.shape[1] != n_code or not np.isfinite(codes).all():
                raise ValueError(
                    f"codes must be finite with shape (n, {n_code}), got {codes.shape}"
                )
            source = "codes"
        expression = self._generate_expression(codes, len(codes), seed, batch_size)
        obs = {"code_source": np.full(len(codes), source)}
        return self._cells(expression, obs, codes, {"seed": seed})


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
