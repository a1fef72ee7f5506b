"""What the GAN models share: data set-up, the expression the GAN learns, and training."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import torch
from anndata import AnnData
from scipy import sparse
from scvi import REGISTRY_KEYS
from scvi.model._utils import use_distributed_sampler
from scvi.model.base import BaseModelClass
from sklearn.decomposition import TruncatedSVD

from .._data_size import check_enough_cells
from .._docs import insert_docs
from .._normalize import TARGET_SUM, log_normalize
from .._validation import (
    check_choice,
    check_non_negative,
    check_positive_int,
    get_matrix,
    has_negative_values,
    validate_expression,
)
from ..data import MIN_BATCH_SIZE, InMemoryDataSplitter
from ..module import (
    CRITIC_HIDDEN,
    GAN_KEYS,
    GENERATOR_HIDDEN,
    OUTPUT_ACTIVATIONS,
    OUTPUT_HEADS,
    GANModule,
)
from ..train import (
    ADAM_BETAS,
    CRITIC_LEARNING_RATE,
    EMA_DECAY,
    GAN_LEARNING_RATE,
    GAN_MAX_STEPS,
    GAN_MAX_TIME,
    GP_LAMBDA,
    N_CRITIC,
    GANTrainRunner,
    RealismMonitor,
    WGANTrainingPlan,
)
from ._count_dispersion import (
    DISPERSION_MAX_CELLS,
    DISPERSION_NEIGHBOURS,
    neighbourhood_dispersion,
    read_rows,
)
from ._fields import ExpressionSetupMixin
from ._generation import GenerationMixin
from ._reading import GeneMatchingMixin
from ._saved import SavedModelMixin

logger = logging.getLogger(__name__)

#: Principal axes of the expression that stand for a cell's state where a model has no codes.
CELL_STATE_COMPONENTS = 10


class GANModelBase(
    GeneMatchingMixin, GenerationMixin, ExpressionSetupMixin, SavedModelMixin, BaseModelClass
):
    """Base of the GAN models: :class:`~michigan.MichiGAN`, :class:`~michigan.WGANGP`, ….

    Holds the data set-up, the choice of the expression the GAN learns (:meth:`_build_module`),
    the GAN's training (:meth:`train`), generation and loading. A subclass builds its module in
    ``__init__`` with :meth:`_build_module` and supplies, where it needs them, the hooks of
    :meth:`train`: :meth:`_train_representation` (a first stage), :meth:`_extra_tensors`
    (per-cell matrices served with each minibatch) and :meth:`_plan_kwargs` (defaults of
    the training plan).
    """

    _module_cls = GANModule
    _data_splitter_cls = InMemoryDataSplitter
    _training_plan_cls = WGANTrainingPlan
    _train_runner_cls = GANTrainRunner

    @property
    def registered_layer(self) -> str | None:
        """The layer registered by :meth:`setup_anndata` (``None`` for ``adata.X``)."""
        return self.adata_manager.data_registry[REGISTRY_KEYS.X_KEY].attr_key

    @property
    def gan_layer(self) -> str | None:
        """The layer the GAN learns: ``gan_layer`` if the model named one, else the registered."""
        return self._gan_layer if self._gan_layer is not None else self.registered_layer

    def _build_module(
        self,
        n_code: int,
        n_noise: int,
        code_source: str = "mean",
        *,
        gan_layer: str | None = None,
        log_normalize: bool | None = None,
        target_sum: float = TARGET_SUM,
        generator_hidden: Sequence[int] = GENERATOR_HIDDEN,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        critic_normalization: str = "layer",
        output_head: str | None = None,
        output_activation: str | None = "relu",
        dropout_rate: float = 0.0,
        count_dispersion: float | str = "neighbours",
        **module_kwargs,
    ) -> GANModule:
        """The model's module from the network options (the models' ``**network_kwargs``).

        Every network option is checked here, once; so is the matrix the GAN learns, whose
        description goes to ``expression_``.
        """
        check_positive_int(n_noise, "n_noise", minimum=0)
        check_choice(output_activation, "output_activation", OUTPUT_ACTIVATIONS)
        if output_head is not None:
            check_choice(output_head, "output_head", OUTPUT_HEADS)
        if not np.isfinite(target_sum) or target_sum <= 0:
            raise ValueError(f"target_sum must be a positive number, got {target_sum}")
        if count_dispersion != "neighbours":
            if isinstance(count_dispersion, str):
                raise ValueError(
                    f"count_dispersion must be 'neighbours' or a positive number, got "
                    f"{count_dispersion!r}"
                )
            module_kwargs["count_dispersion"] = check_non_negative(
                count_dispersion, "count_dispersion", strict=True
            )
        self._count_dispersion = count_dispersion
        if gan_layer is not None and not isinstance(gan_layer, str):
            raise TypeError(f"gan_layer must be a layer name or None, got {gan_layer!r}")
        if log_normalize is None:
            log_normalize = gan_layer is None
        if output_head is None:
            output_head = "counts" if log_normalize else "expression"
        self._gan_layer = gan_layer
        self.expression_ = _describe_expression(
            self.adata, self.gan_layer, log_normalize, output_head, output_activation, target_sum
        )
        return self._module_cls(
            n_genes=self.summary_stats.n_vars,
            n_code=n_code,
            n_noise=n_noise,
            code_source=code_source,
            log_normalize=log_normalize,
            target_sum=float(target_sum),
            expression_key=REGISTRY_KEYS.X_KEY if gan_layer is None else GAN_KEYS.EXPRESSION,
            generator_hidden=tuple(generator_hidden),
            critic_hidden=tuple(critic_hidden),
            n_features=n_features,
            critic_normalization=critic_normalization,
            output_head=output_head,
            output_activation=output_activation,
            dropout_rate=dropout_rate,
            **module_kwargs,
        )

    @insert_docs
    def train(
        self,
        max_epochs: int | None = None,
        max_steps: int | None = None,
        max_time: str | timedelta | dict | None = None,
        batch_size: int = 128,
        n_critic: int = N_CRITIC,
        lr_generator: float = GAN_LEARNING_RATE,
        lr_critic: float = CRITIC_LEARNING_RATE,
        betas: Sequence[float] = ADAM_BETAS,
        gp_lambda: float = GP_LAMBDA,
        ema_decay: float | None = EMA_DECAY,
        monitor: bool | RealismMonitor = True,
        extrapolation: bool = False,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        plan_kwargs: dict | None = None,
        datasplitter_kwargs: dict | None = None,
        **trainer_kwargs,
    ):
        """Train the generator and the critic on every cell (no validation split).

        Training stops at the first budget reached: ``max_steps`` generator steps,
        ``max_epochs`` passes of the critic over the cells, or ``max_time``. Without any
        budget it runs 4000 generator steps or ten minutes, whichever comes first. Every
        argument is checked before anything trains.

        Parameters
        ----------
        %(gan_train_params)s

        Examples
        --------
        >>> model.train()  # 4000 generator steps or ten minutes, whichever comes first
        >>> model.train(max_time="00:00:05:00")  # five minutes of wall time
        >>> model.train(**mg.train.PAPER_TRAINING, accelerator="gpu")  # the paper's setting
        >>> model.train(accelerator="cpu", devices=2, strategy="ddp")  # two processes
        """
        if "prediction" in trainer_kwargs:
            warnings.warn(
                "train(prediction=...) is now train(extrapolation=...): 'prediction' names "
                "latent arithmetic in michigan",
                FutureWarning,
                stacklevel=2,
            )
            extrapolation = trainer_kwargs.pop("prediction")
        check_positive_int(batch_size, "batch_size", minimum=MIN_BATCH_SIZE)
        check_enough_cells(self.adata.n_obs, 1.0, None, batch_size)
        if max_epochs is not None:
            check_positive_int(max_epochs, "max_epochs")
        if max_steps is not None:
            check_positive_int(max_steps, "max_steps")
        max_time = _check_max_time(max_time)
        if max_epochs is None and max_steps is None and max_time is None:
            max_steps, max_time = GAN_MAX_STEPS, GAN_MAX_TIME
        if not isinstance(monitor, bool | RealismMonitor):
            raise TypeError(
                "monitor must be True, False or a michigan.train.RealismMonitor, got "
                f"{type(monitor).__name__}"
            )
        plan = self._training_plan_cls(
            self.module,
            **{
                "n_critic": n_critic,
                "lr_generator": lr_generator,
                "lr_critic": lr_critic,
                "betas": betas,
                "gp_lambda": gp_lambda,
                "extrapolation": extrapolation,
                "ema_decay": ema_decay,
                **self._plan_kwargs(),
                **(plan_kwargs or {}),
            },
        )
        self._train_representation(accelerator, devices, trainer_kwargs)
        if not self.is_trained_ and self._count_dispersion == "neighbours":
            self._start_count_dispersion()
        extra_tensors = self._extra_tensors()
        if self._gan_layer is not None:
            extra_tensors[GAN_KEYS.EXPRESSION] = get_matrix(self.adata, self._gan_layer)
        strategy = trainer_kwargs.get("strategy")
        splitter = self._data_splitter_cls(
            self.adata_manager,
            **{
                "train_size": 1.0,
                "batch_size": batch_size,
                "distributed_sampler": use_distributed_sampler(strategy),
                "extra_tensors": extra_tensors,
                **(datasplitter_kwargs or {}),
            },
        )
        if monitor is True:
            monitor = RealismMonitor()
        if monitor is not False:
            trainer_kwargs["callbacks"] = [*(trainer_kwargs.get("callbacks") or []), monitor]
        self.realism_monitor_ = monitor or None
        runner = self._train_runner_cls(
            self,
            training_plan=plan,
            data_splitter=splitter,
            max_epochs=_epochs_for(
                max_epochs, max_steps, plan, self.adata.n_obs, batch_size, strategy
            ),
            max_steps=-1 if max_steps is None else plan.optimizer_steps(max_steps),
            max_time=max_time,
            accelerator=accelerator,
            devices=devices,
            **trainer_kwargs,
        )
        return runner()

    def _train_representation(self, accelerator, devices, trainer_kwargs: dict) -> None:
        """Hook: train what the GAN is conditioned on, after the arguments are checked."""

    def _start_count_dispersion(self) -> None:
        """Start a negative-binomial count head at the data's noise around each cell's state.

        The per-gene dispersion of the counts around the pooled profile of each cell's
        nearest cells in :meth:`_cell_states` (:func:`neighbourhood_dispersion`), on at most
        :data:`DISPERSION_MAX_CELLS` cells (a random subset, seed 0). Other heads are left as
        they are.
        """
        if self.module.dispersion is None:
            return
        n_cells = self.adata.n_obs
        cells = np.arange(n_cells)
        if n_cells > DISPERSION_MAX_CELLS:
            rng = np.random.default_rng(0)
            cells = np.sort(rng.choice(n_cells, DISPERSION_MAX_CELLS, replace=False))
        counts = read_rows(get_matrix(self.adata, self.gan_layer), cells)
        dispersion = neighbourhood_dispersion(counts, self._cell_states(cells, counts))
        self.module.start_dispersion(torch.from_numpy(dispersion))
        logger.info(
            "The count head starts at the dispersion of cells around their %d nearest "
            "neighbours: median %.2f over genes.",
            DISPERSION_NEIGHBOURS,
            float(np.median(dispersion)),
        )

    def _cell_states(self, cells: np.ndarray, counts: sparse.csr_matrix) -> np.ndarray:
        """Hook: coordinates of ``cells``' states (here: principal axes of their expression).

        ``counts`` are those cells' rows of the learned counts.
        """
        expression = log_normalize(counts)
        n_components = max(1, min(CELL_STATE_COMPONENTS, min(expression.shape) - 1))
        return TruncatedSVD(n_components, random_state=0).fit_transform(expression)

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        """Hook: per-cell matrices served with each minibatch, by minibatch key."""
        return {}

    def _plan_kwargs(self) -> dict:
        """Hook: the model's defaults of the training plan's arguments."""
        return {}


def _check_max_time(max_time):
    """Lightning's ``max_time``: ``"DD:HH:MM:SS"``, a timedelta or a dict of its arguments."""
    if max_time is None or isinstance(max_time, timedelta):
        return max_time
    if isinstance(max_time, dict):
        try:
            return timedelta(**max_time)
        except TypeError as error:
            raise ValueError(
                f"max_time as a dict takes timedelta's arguments (e.g. {{'minutes': 10}}): {error}"
            ) from None
    if isinstance(max_time, str):
        parts = max_time.split(":")
        if len(parts) == 4 and all(part.isdigit() for part in parts):
            days, hours, minutes, seconds = map(int, parts)
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise ValueError(
        f"max_time must be 'DD:HH:MM:SS' (e.g. '00:00:10:00' for ten minutes), a "
        f"datetime.timedelta or a dict such as {{'minutes': 10}}; got {max_time!r}"
    )


def _epochs_for(max_epochs, max_steps, plan, n_cells: int, batch_size: int, strategy) -> int:
    """Lightning's ``max_epochs``: the given one, else enough for ``max_steps`` (or unlimited).

    With only a step budget the epochs are sized to it (so that the progress bar counts
    towards it); under DDP each process sees a share of the cells, so they stay unlimited.
    """
    if max_epochs is not None:
        return max_epochs
    if max_steps is None or use_distributed_sampler(strategy):
        return -1
    batches = max(math.ceil(n_cells / batch_size), 1)
    return math.ceil(max_steps * plan.n_critic / batches)


def _describe_expression(
    adata: AnnData,
    layer: str | None,
    log_normalize: bool,
    head: str,
    activation: str | None,
    target_sum: float,
) -> str:
    """Check the matrix the GAN learns; describe it (for the model summary and outputs)."""
    validate_expression(adata, layer)
    where = f"layer {layer!r}" if layer is not None else "adata.X"
    has_negatives = has_negative_values(adata, layer)
    if log_normalize and has_negatives:
        raise ValueError(
            f"{where} holds negative values and cannot be log-normalised; pass raw counts, "
            "or log_normalize=False to learn a processed layer as it is"
        )
    if has_negatives and head in ("counts", "library_size"):
        raise ValueError(
            f"{where} holds negative values but output_head={head!r} generates "
            "log-normalised expression; pass output_head='expression', output_activation=None"
        )
    if has_negatives and activation is not None:
        raise ValueError(
            f"{where} holds negative values but output_activation={activation!r} keeps the "
            "generator's output non-negative; pass output_activation=None"
        )
    if log_normalize:
        return f"log1p({target_sum:g} · x / Σx) per cell of {where}"
    return f"{where} as it is"
