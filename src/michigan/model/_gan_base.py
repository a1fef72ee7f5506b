"""What the GAN models share: data set-up, the expression the GAN learns, training, sampling."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy
from scvi import REGISTRY_KEYS
from scvi.model._utils import use_distributed_sampler
from scvi.model.base import BaseModelClass
from scvi.train import SaveCheckpoint, Trainer, TrainRunner

from .._validation import (
    check_choice,
    check_positive_int,
    get_matrix,
    validate_expression,
)
from ..data import InMemoryDataSplitter
from ..data._in_memory import MIN_BATCH_SIZE
from ..module import GAN_KEYS, GANModule
from ..module._gan import OUTPUT_ACTIVATIONS
from ..train import WGANTrainingPlan
from ._fields import register_expression_fields
from ._tcvae import _check_same_genes

logger = logging.getLogger(__name__)

#: Default GAN epochs (passes of the critic over the cells): minutes for 10,000 cells on a
#: 2-core CPU. The paper trained every model for 1000 epochs on a GPU (``max_epochs=1000``).
DEFAULT_MAX_EPOCHS = 30

#: Lightning strategies that need ``find_unused_parameters``: a critic step leaves the
#: generator without gradients (and a generator step the critic), which plain DDP rejects.
_FIND_UNUSED = {
    "ddp": "ddp_find_unused_parameters_true",
    "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
    "ddp_fork": "ddp_fork_find_unused_parameters_true",
    "ddp_notebook": "ddp_notebook_find_unused_parameters_true",
}

_IGNORED_WARNINGS = (
    "Last batch will have a small size",
    ".*val_dataloader.*no `validation_step`",
    ".*smaller than the logging interval",
)


def gan_strategy(strategy):
    """The Lightning strategy for a GAN: DDP with ``find_unused_parameters=True``.

    Parameters
    ----------
    strategy
        A Lightning strategy name or instance, or ``None``.

    Returns
    -------
    ``strategy``, with the DDP names mapped to their ``find_unused_parameters=True`` variant.
    """
    if isinstance(strategy, str):
        if strategy.endswith("find_unused_parameters_false"):
            raise ValueError(
                f"strategy={strategy!r} cannot train a GAN: each optimiser step leaves the other "
                "network without gradients; pass strategy='ddp'"
            )
        return _FIND_UNUSED.get(strategy, strategy)
    ddp_kwargs = getattr(strategy, "_ddp_kwargs", {}) or {}
    if isinstance(strategy, DDPStrategy) and not ddp_kwargs.get("find_unused_parameters", True):
        raise ValueError(
            "a GAN needs DDPStrategy(find_unused_parameters=True): each optimiser step leaves "
            "the other network without gradients"
        )
    return strategy


class GANTrainer(Trainer):
    """scvi-tools' trainer that also takes Lightning's own ``ModelCheckpoint`` callbacks.

    scvi-tools' trainer adds its :class:`~scvi.train.SaveCheckpoint` (which monitors a
    validation loss the GAN does not have) whenever checkpointing is on; here a plain
    :class:`~lightning.pytorch.callbacks.ModelCheckpoint` is kept as it is, so that a GAN run
    writes Lightning checkpoints and can resume from one (``ckpt_path=...``).
    """

    def __init__(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        checkpoints = [
            c
            for c in callbacks
            if isinstance(c, ModelCheckpoint) and not isinstance(c, SaveCheckpoint)
        ]
        others = [c for c in callbacks if not any(c is k for k in checkpoints)]
        super().__init__(*args, callbacks=others, **kwargs)
        self.callbacks.extend(checkpoints)


class GANTrainRunner(TrainRunner):
    """:class:`~scvi.train.TrainRunner` with :class:`GANTrainer`."""

    _trainer_cls = GANTrainer


class GANModelBase(BaseModelClass):
    """Base of :class:`~michigan.MichiGAN` and :class:`~michigan.WGANGP`.

    Holds the data set-up, the choice of the expression the GAN learns, the second-stage
    training with :class:`~michigan.train.WGANTrainingPlan`, and sampling from the generator.
    """

    _module_cls = GANModule
    _data_splitter_cls = InMemoryDataSplitter
    _training_plan_cls = WGANTrainingPlan
    _train_runner_cls = GANTrainRunner

    @classmethod
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        labels_key: str | None = None,
        **kwargs,
    ) -> None:
        """Register an AnnData with the model.

        The data are checked first (a non-empty, numeric, finite matrix; existing layer and
        ``.obs`` columns), so that bad input raises before anything is written to ``adata``.

        Parameters
        ----------
        adata
            Cells × genes.
        layer
            Layer with raw counts (``None``: ``adata.X``). The GAN learns their log-normalised
            values unless the model names a processed layer (``gan_layer``).
        batch_key
            Column of ``adata.obs`` with the batch of each cell (given to a β-TCVAE trained by
            the model; the GAN itself is not conditioned on it).
        labels_key
            Column of ``adata.obs`` with cell labels (kept for downstream use).
        **kwargs
            Passed to :meth:`scvi.data.AnnDataManager.register_fields`.

        Examples
        --------
        >>> import michigan as mg
        >>> adata = mg.datasets.splatter_paths(seed=0)
        >>> mg.MichiGAN.setup_anndata(adata, layer="counts", batch_key="batch")
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        register_expression_fields(
            cls, adata, layer, batch_key, labels_key, setup_method_args, **kwargs
        )

    @property
    def registered_layer(self) -> str | None:
        """The layer registered by :meth:`setup_anndata` (``None`` for ``adata.X``)."""
        return self.adata_manager.data_registry[REGISTRY_KEYS.X_KEY].attr_key

    def _gan_data(
        self,
        adata: AnnData,
        gan_layer: str | None,
        log_normalize: bool | None,
        activation,
        target_sum: float = 1e4,
    ) -> tuple[bool, str]:
        """Check the matrix the GAN learns; return ``log_normalize`` and its description."""
        if gan_layer is not None and not isinstance(gan_layer, str):
            raise TypeError(f"gan_layer must be a layer name or None, got {gan_layer!r}")
        if log_normalize is None:
            log_normalize = gan_layer is None
        layer = gan_layer if gan_layer is not None else self.registered_layer
        validate_expression(adata, layer)
        matrix = get_matrix(adata, layer)
        where = f"layer {layer!r}" if layer is not None else "adata.X"
        has_negatives = matrix.min() < 0
        if log_normalize and has_negatives:
            raise ValueError(
                f"{where} holds negative values and cannot be log-normalised; pass raw counts, "
                "or log_normalize=False to learn a processed layer as it is"
            )
        if has_negatives and activation is not None:
            raise ValueError(
                f"{where} holds negative values but output_activation={activation!r} keeps the "
                "generator's output non-negative; pass output_activation=None"
            )
        if log_normalize:
            return True, f"log1p({target_sum:g} · x / Σx) per cell of {where}"
        return False, f"{where} as it is"

    def _make_module(
        self,
        n_code: int,
        n_noise: int,
        code_source: str,
        gan_layer: str | None,
        log_normalize: bool | None,
        target_sum: float,
        output_activation,
        **network_kwargs,
    ) -> GANModule:
        check_choice(output_activation, "output_activation", OUTPUT_ACTIVATIONS)
        if not np.isfinite(target_sum) or target_sum <= 0:
            raise ValueError(f"target_sum must be a positive number, got {target_sum}")
        log_normalize, self.expression_ = self._gan_data(
            self.adata, gan_layer, log_normalize, output_activation, target_sum
        )
        self._gan_layer = gan_layer
        return self._module_cls(
            n_genes=self.summary_stats.n_vars,
            n_code=n_code,
            n_noise=n_noise,
            code_source=code_source,
            log_normalize=log_normalize,
            target_sum=float(target_sum),
            expression_key=REGISTRY_KEYS.X_KEY if gan_layer is None else GAN_KEYS.EXPRESSION,
            output_activation=output_activation,
            **network_kwargs,
        )

    @staticmethod
    def _check_gan_train_args(
        max_epochs: int, batch_size: int, n_critic: int, lr_generator: float, lr_critic: float
    ) -> None:
        check_positive_int(max_epochs, "max_epochs")
        check_positive_int(batch_size, "batch_size", minimum=MIN_BATCH_SIZE)
        if isinstance(n_critic, bool) or not isinstance(n_critic, int | np.integer):
            raise TypeError(f"n_critic must be an integer, got {n_critic!r}")
        if n_critic < 1:
            raise ValueError(
                f"n_critic must be at least 1 (critic steps per generator step), got "
                f"{n_critic}; the paper uses 5"
            )
        for name, value in {"lr_generator": lr_generator, "lr_critic": lr_critic}.items():
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value}")

    def _train_gan(
        self,
        *,
        max_epochs: int,
        batch_size: int,
        n_critic: int,
        lr_generator: float,
        lr_critic: float,
        betas: Sequence[float],
        gp_lambda: float,
        prediction: bool,
        accelerator: str,
        devices,
        extra_tensors: dict[str, np.ndarray],
        plan_kwargs: dict | None,
        datasplitter_kwargs: dict | None,
        trainer_kwargs: dict,
    ):
        """Train the generator and the critic on every cell (no validation split)."""
        if self._gan_layer is not None:
            extra_tensors = {
                **extra_tensors,
                GAN_KEYS.EXPRESSION: get_matrix(self.adata, self._gan_layer),
            }
        plan = self._training_plan_cls(
            self.module,
            **{
                "n_critic": int(n_critic),
                "lr_generator": lr_generator,
                "lr_critic": lr_critic,
                "betas": tuple(betas),
                "gp_lambda": gp_lambda,
                "prediction": prediction,
                **(plan_kwargs or {}),
            },
        )
        trainer_kwargs = dict(trainer_kwargs)
        if trainer_kwargs.get("strategy") is not None:
            trainer_kwargs["strategy"] = gan_strategy(trainer_kwargs["strategy"])
        splitter = self._data_splitter_cls(
            self.adata_manager,
            **{
                "train_size": 1.0,
                "batch_size": batch_size,
                "distributed_sampler": use_distributed_sampler(trainer_kwargs.get("strategy")),
                "extra_tensors": extra_tensors,
                **(datasplitter_kwargs or {}),
            },
        )
        runner = self._train_runner_cls(
            self,
            training_plan=plan,
            data_splitter=splitter,
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=devices,
            **trainer_kwargs,
        )
        with warnings.catch_warnings():
            # The GAN trains on every cell and logs once per epoch: no validation, no steps.
            for message in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            return runner()

    @torch.inference_mode()
    def _generate_expression(
        self, codes: np.ndarray | None, n_cells: int, seed: int, batch_size: int = 1024
    ) -> np.ndarray:
        """Generator output for codes (or ``n_cells`` unconditional cells), noise from ``seed``."""
        self._check_if_trained(warn=True)
        module = self.module
        module.eval()
        device = module.device
        noise = module.sample_noise(
            n_cells, device="cpu", generator=torch.Generator().manual_seed(seed)
        )
        chunks = []
        for start in range(0, n_cells, batch_size):
            stop = start + batch_size
            code = None
            if codes is not None:
                code = torch.as_tensor(codes[start:stop], dtype=torch.float32, device=device)
            chunks.append(module.generate(code, noise[start:stop].to(device)).cpu())
        if not chunks:
            return np.zeros((0, module.n_genes), dtype=np.float32)
        return torch.cat(chunks).numpy()

    @staticmethod
    def _resolve_seed(seed: int | None) -> int:
        """``seed``, or one drawn from torch's global generator (seeded by scvi's settings)."""
        if seed is None:
            return int(torch.randint(0, 2**31 - 1, (1,)).item())
        return check_positive_int(seed, "seed", minimum=0)

    def _cells(
        self,
        expression: np.ndarray,
        obs: dict[str, np.ndarray],
        codes: np.ndarray | None,
        uns: dict,
    ) -> AnnData:
        """An AnnData of generated cells with the model's genes."""
        n_cells = expression.shape[0]
        names = pd.Index([f"generated-{i}" for i in range(n_cells)], dtype=str)
        cells = AnnData(
            X=expression.astype(np.float32, copy=False),
            obs=pd.DataFrame({"source": "generated", **obs}, index=names),
            var=pd.DataFrame(index=pd.Index(self.adata.var_names.astype(str), copy=True)),
        )
        if codes is not None:
            cells.obsm["X_michigan"] = np.asarray(codes, dtype=np.float32)
        cells.uns["michigan"] = {
            "model": type(self).__name__,
            "expression": self.expression_,
            **{key: value for key, value in uns.items() if value is not None},
        }
        return cells

    @classmethod
    def load(
        cls,
        dir_path: str,
        adata: AnnData | None = None,
        accelerator: str = "auto",
        device: int | str = "auto",
        prefix: str | None = None,
        **kwargs,
    ):
        """Load a saved model, checking first that ``adata`` has the genes it was trained on.

        Parameters
        ----------
        dir_path
            Folder written by :meth:`save`.
        adata
            AnnData to attach (set up like the training data); defaults to the one saved with
            ``save_anndata=True``.
        accelerator, device
            Where to put the model (``"auto"`` picks what exists).
        prefix
            Prefix of the saved file names.
        **kwargs
            Passed to :meth:`scvi.model.base.BaseModelClass.load`.

        Examples
        --------
        >>> model.save("michigan/", overwrite=True)
        >>> model = mg.MichiGAN.load("michigan/", adata=adata)
        """
        dir_path = str(dir_path)
        if adata is None:
            saved = Path(dir_path) / f"{prefix or ''}adata.h5ad"
            if not saved.exists():
                raise ValueError(
                    f"no AnnData was saved in {dir_path}; pass the one the model was trained "
                    f"on: {cls.__name__}.load(dir_path, adata=adata)"
                )
        else:
            _check_same_genes(Path(dir_path), adata, prefix)
        return super().load(
            dir_path, adata=adata, accelerator=accelerator, device=device, prefix=prefix, **kwargs
        )
