"""The β-TCVAE model: a disentangled representation of cells, the scvi-tools way."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin, VAEMixin

from .._data_size import check_enough_cells
from .._validation import (
    check_choice,
    check_non_negative,
    check_positive_int,
    validate_counts,
)
from ..data import InMemoryDataSplitter
from ..module import (
    COUNT_LIKELIHOODS,
    GENE_LIKELIHOODS,
    KL_ESTIMATORS,
    TC_ESTIMATORS,
    GeneLikelihood,
    KlEstimator,
    TcEstimator,
    TCVAEModule,
)
from ..train import CheckpointTrainRunner, TCVAETrainingPlan
from ._backed import BackedReadingMixin
from ._fields import ExpressionSetupMixin
from ._latent_activity import LatentActivityMixin
from ._latent_arithmetic import DecoderArithmeticMixin
from ._reading import GeneMatchingMixin
from ._saved import SavedModelMixin
from ._tcvae_sampling import PosteriorPredictiveMixin

logger = logging.getLogger(__name__)

#: Cells read in training by default: 100 epochs of 10,000 cells (about 3,900 minibatches of
#: 256), minutes on a laptop CPU. Smaller data sets get more epochs, as the same number of
#: epochs on fewer cells means fewer optimizer steps: at 5,000 cells 100 epochs left a
#: Splatter seed in four with a code that resolved little of the step, and 200 let it catch
#: up (docs/paper_benchmark.md, "Epochs").
DEFAULT_CELLS_READ = 1_000_000
#: Bounds of the default number of epochs; the paper trained for 1000 epochs on a GPU.
DEFAULT_MIN_EPOCHS = 100
DEFAULT_MAX_EPOCHS = 1000
#: Adam's ``eps`` for the β-TCVAE: PyTorch's default, not scvi-tools' 0.01. With 0.01 the
#: encoder's small gradients were damped so much that whether the Splatter step got a latent
#: of its own depended on the seed (docs/paper_benchmark.md, "Seed study").
ADAM_EPS = 1e-8
#: Adam's weight decay for the β-TCVAE: none, as in the paper and a bare PyTorch loop, not
#: scvi-tools' 1e-6 (docs/paper_benchmark.md, "Seed study").
ADAM_WEIGHT_DECAY = 0.0


def default_max_epochs(n_cells: int) -> int:
    """The β-TCVAE's default number of epochs for ``n_cells`` cells.

    Enough epochs to read :data:`DEFAULT_CELLS_READ` cells, at least 100 and at most the
    paper's 1000: 100 epochs from 10,000 cells up, 200 at 5,000, 1000 below 1,000.

    Parameters
    ----------
    n_cells
        Cells of the AnnData the model was set up with.

    Returns
    -------
    The number of epochs.

    Examples
    --------
    >>> from michigan.model import default_max_epochs
    >>> default_max_epochs(10_000), default_max_epochs(5_000), default_max_epochs(500)
    (100, 200, 1000)
    """
    epochs = round(DEFAULT_CELLS_READ / max(n_cells, 1))
    return int(min(max(epochs, DEFAULT_MIN_EPOCHS), DEFAULT_MAX_EPOCHS))


class TCVAE(
    PosteriorPredictiveMixin,
    LatentActivityMixin,
    GeneMatchingMixin,
    BackedReadingMixin,
    DecoderArithmeticMixin,
    ExpressionSetupMixin,
    SavedModelMixin,
    VAEMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """β-TCVAE (Chen et al., 2018): a disentangled representation of single-cell data.

    The first stage of MichiGAN (Yu & Welch, 2021). The model is a VAE whose KL term is split
    into index-code mutual information (MI), total correlation (TC) and dimension-wise KL,

    ``loss = −E[log p(x | z)] + alpha·MI + beta·TC + gamma·dimKL``,

    where a large ``beta`` penalises statistical dependence between the latent dimensions.

    **β convention.** ``beta`` is the weight of the total-correlation term itself: ``beta=1``
    (with ``alpha = gamma = 1``) is the plain VAE. The original MichiGAN code added β on top of
    the full KL, so its "β = 100" is ``beta=101`` here. The paper used 10 on Splatter
    simulations, 50 on PROSSTT and pancreas data and 100 on Tabula Muris and sci-Plex.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    n_latent
        Dimension of the representation.
    beta
        Weight of the total correlation (see above).
    alpha
        Weight of the index-code mutual information.
    gamma
        Weight of the dimension-wise KL.
    tc_estimator
        ``"mss"`` (minibatch stratified sampling, the paper's choice) or ``"mws"`` (minibatch
        weighted sampling).
    kl_estimator
        ``"monte_carlo"`` (the default, as the paper's code): the three terms estimated from
        one posterior sample per cell. ``"analytic"``: the closed-form KL of each cell's
        posterior to the prior, plus ``(alpha − 1)·MI + (beta − 1)·TC + (gamma − 1)·dimKL``
        from that sample. The same objective in expectation, with less noise; on the
        benchmark's simulations it rescued one weak seed and broke two others, so it is not
        the default (see the β-TCVAE docs page).
    gene_likelihood
        ``"nb"`` (negative binomial on raw counts with the library size, as scVI; the
        default), ``"zinb"``, ``"poisson"``, or ``"normal"`` for processed data (the paper
        used a Gaussian on log-normalised expression).
    n_hidden
        Widths of the encoder's hidden layers (the decoder mirrors them).
    dropout_rate
        Dropout after each hidden layer.
    decode_library
        Count likelihoods only. ``False`` (as scVI): the decoded gene proportions are scaled
        by each cell's observed library size, so no latent carries library size. ``True``:
        the decoder also predicts the library size from the code, as the paper's decoder had
        no library input, so library size gets a latent of its own (walk it with a
        traversal); cells generated from codes then take their decoded library sizes.
        The disentanglement benchmark uses ``True`` because the paper's MIG scores library
        size as a factor.
    **module_kwargs
        Passed to :class:`~michigan.module.TCVAEModule` (e.g. ``use_batch_norm``,
        ``encode_covariates``, ``negative_slope``).

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.pbmc68k()
    >>> mg.TCVAE.setup_anndata(adata, layer="counts")
    >>> model = mg.TCVAE(adata, n_latent=10, beta=10)
    >>> model.train(max_epochs=20)
    >>> adata.obsm["X_tcvae"] = model.get_latent_representation()
    >>> cells = model.generate(adata=adata, seed=0)  # counts drawn from the likelihood
    """

    _module_cls = TCVAEModule
    _data_splitter_cls = InMemoryDataSplitter
    _training_plan_cls = TCVAETrainingPlan
    _train_runner_cls = CheckpointTrainRunner

    def __init__(
        self,
        adata: AnnData | None = None,
        n_latent: int = 10,
        beta: float = 10.0,
        alpha: float = 1.0,
        gamma: float = 1.0,
        tc_estimator: TcEstimator = "mss",
        kl_estimator: KlEstimator = "monte_carlo",
        gene_likelihood: GeneLikelihood = "nb",
        n_hidden: Sequence[int] = (512, 256),
        dropout_rate: float = 0.2,
        decode_library: bool = False,
        **module_kwargs,
    ):
        check_positive_int(n_latent, "n_latent")
        for name, value in {"alpha": alpha, "beta": beta, "gamma": gamma}.items():
            check_non_negative(value, name)
        check_choice(tc_estimator, "tc_estimator", TC_ESTIMATORS)
        check_choice(kl_estimator, "kl_estimator", KL_ESTIMATORS)
        check_choice(gene_likelihood, "gene_likelihood", GENE_LIKELIHOODS)
        _check_hidden_widths(n_hidden)
        if not 0 <= dropout_rate < 1:
            raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}")
        if decode_library and gene_likelihood not in COUNT_LIKELIHOODS:
            raise ValueError(
                "decode_library applies to the count likelihoods "
                f"({', '.join(COUNT_LIKELIHOODS)}); gene_likelihood={gene_likelihood!r} has no "
                "library size: drop decode_library"
            )
        if adata is not None and gene_likelihood in COUNT_LIKELIHOODS:
            layer = self._registered_layer(adata)
            validate_counts(adata, layer, gene_likelihood)
        super().__init__(adata)

        if decode_library and adata is not None:
            libraries = np.maximum(self._cell_libraries(adata), 1.0)
            module_kwargs["library_log_mean"] = float(np.log(libraries).mean())
        self._module_kwargs = {
            "n_latent": n_latent,
            "alpha": alpha,
            "beta": beta,
            "gamma": gamma,
            "tc_estimator": tc_estimator,
            "kl_estimator": kl_estimator,
            "gene_likelihood": gene_likelihood,
            "n_hidden": tuple(n_hidden),
            "dropout_rate": dropout_rate,
            "decode_library": decode_library,
            **module_kwargs,
        }
        self._model_summary_string = (
            f"β-TCVAE with n_latent={n_latent}, alpha={alpha}, beta={beta} (TC weight), "
            f"gamma={gamma}, tc_estimator={tc_estimator!r}, kl_estimator={kl_estimator!r}, "
            f"gene_likelihood={gene_likelihood!r}"
            + (", library size decoded from the code." if decode_library else ".")
        )
        if self._module_init_on_train:
            self.module = None
        else:
            n_batch = self.summary_stats.n_batch
            self.module = self._module_cls(
                n_input=self.summary_stats.n_vars, n_batch=n_batch, **self._module_kwargs
            )
        self.init_params_ = self._get_init_params(locals())

    @classmethod
    def _registered_layer(cls, adata: AnnData) -> str | None:
        manager = cls._get_most_recent_anndata_manager(adata, required=True)
        return manager.data_registry[REGISTRY_KEYS.X_KEY].attr_key

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 1e-3,
        n_epochs_kl_warmup: int = 0,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        train_size: float | None = None,
        validation_size: float | None = None,
        plan_kwargs: dict | None = None,
        **kwargs,
    ):
        """Train the model.

        Minibatches are served from memory (:class:`~michigan.data.InMemoryDataSplitter`):
        the data are read from the AnnData once, not indexed per batch. The ``.X`` of a
        backed AnnData (``anndata.read_h5ad(path, backed="r")``) stays in its file and each
        minibatch's rows are read from it, giving the same minibatches.

        Afterwards the latents are diagnosed (:meth:`get_latent_activity`): the table is
        written to ``adata.uns["tcvae_latent_activity"]`` (``activity``, ``posterior_sd``,
        ``kl``, the indices of the ``collapsed`` latents and the ``kl_threshold``) and the
        collapsed latents are named in the model's summary.

        Parameters
        ----------
        max_epochs
            Passes through the cells. By default enough to read a million cells, at least 100
            and at most 1000 (:func:`default_max_epochs`): 100 epochs from 10,000 cells up
            (minutes on a 2-core CPU), 200 at 5,000 cells, as fewer cells make fewer
            optimizer steps per epoch. The paper used 1000 on a GPU.
        batch_size
            Cells per minibatch, at least 3 (the MSS estimator needs 3, batch normalisation
            2); larger minibatches estimate the total correlation better.
        lr
            Adam learning rate.
        n_epochs_kl_warmup
            Epochs over which the weight of the KL terms rises linearly from 0 to 1, as in
            scvi-tools. Defaults to 0 (the paper names no warm-up): with a warm-up over the
            first quarter of the epochs, three training seeds in five lost the Splatter
            benchmark's step factor at 5,000 cells, and none without.
        accelerator, devices
            Lightning's, e.g. ``accelerator="gpu", devices=2``; ``"auto"`` picks what exists.
        train_size, validation_size
            Fractions of cells for training and validation (default 90 % / 10 %); the
            training cells must fill at least one minibatch of 3, checked before training.
        plan_kwargs
            Passed to :class:`~michigan.train.TCVAETrainingPlan`, which takes the arguments of
            :class:`scvi.train.TrainingPlan` (overrides ``lr`` and the warm-up). Adam's
            ``eps`` is 1e-8 (PyTorch's default), not scvi-tools' 0.01, which made the
            disentanglement depend on the seed; ``plan_kwargs={"eps": 0.01}`` restores it.
        **kwargs
            Passed to :meth:`scvi.model.base.UnsupervisedTrainingMixin.train` and on to the
            Lightning trainer (e.g. ``strategy``, ``early_stopping``, ``enable_progress_bar``,
            ``callbacks=[ModelCheckpoint(dirpath="ckpt", save_last=True)]`` to write
            checkpoints, and ``ckpt_path="ckpt/last.ckpt"`` to resume from one).

        Examples
        --------
        >>> model.train(max_epochs=1000, accelerator="gpu")  # the paper's setting
        >>> from lightning.pytorch.callbacks import ModelCheckpoint
        >>> model.train(max_epochs=100, callbacks=[ModelCheckpoint("ckpt", save_last=True)])
        >>> model.train(max_epochs=200, ckpt_path="ckpt/last.ckpt")  # resume
        """
        max_epochs = default_max_epochs(self.adata.n_obs) if max_epochs is None else max_epochs
        check_positive_int(max_epochs, "max_epochs")
        check_positive_int(batch_size, "batch_size")
        check_enough_cells(self.adata.n_obs, train_size, validation_size, batch_size)
        check_positive_int(n_epochs_kl_warmup, "n_epochs_kl_warmup", minimum=0)
        plan_kwargs = {
            "lr": lr,
            "eps": ADAM_EPS,
            "weight_decay": ADAM_WEIGHT_DECAY,
            "n_epochs_kl_warmup": n_epochs_kl_warmup or None,
            **(plan_kwargs or {}),
        }
        runner = super().train(
            max_epochs=max_epochs,
            batch_size=batch_size,
            accelerator=accelerator,
            devices=devices,
            train_size=train_size,
            validation_size=validation_size,
            plan_kwargs=plan_kwargs,
            **kwargs,
        )
        self._record_latent_activity()  # adata.uns["tcvae_latent_activity"], the summary
        return runner

    @torch.inference_mode()
    def decode(
        self,
        codes: np.ndarray | torch.Tensor,
        batch: int | Sequence[int] | None = None,
        library_size: float | None = 1e4,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Expected expression of latent codes under the decoder.

        Parameters
        ----------
        codes
            Array of shape ``(n, n_latent)``.
        batch
            Batch index (one for all codes, or one per code) when the model has batches;
            defaults to the first batch.
        library_size
            For count likelihoods, the library size to scale the decoded proportions to;
            ``None`` returns proportions that sum to 1 per cell. Ignored for ``"normal"``.
        batch_size
            Codes decoded at a time.

        Returns
        -------
        Array of shape ``(n, n_genes)``.

        Examples
        --------
        >>> z = model.get_latent_representation()
        >>> expression = model.decode(z)
        """
        self._check_if_trained(warn=True)
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
        if codes.ndim != 2 or codes.shape[1] != self.module.n_latent:
            raise ValueError(
                f"codes must have shape (n, {self.module.n_latent}), got {tuple(codes.shape)}"
            )
        finite = torch.isfinite(codes).all(dim=1)
        if not bool(finite.all()):
            rows = torch.nonzero(~finite).ravel()[:5].tolist()
            raise ValueError(
                f"codes hold NaN or infinite values (row {', '.join(map(str, rows))}); decode "
                "finite codes only"
            )
        batch_index = torch.zeros(len(codes), dtype=torch.long)
        if batch is not None:
            batch_index = torch.as_tensor(np.broadcast_to(batch, len(codes)).copy()).long()
        self.module.eval()
        device = self.device
        outputs = []
        for start in range(0, len(codes), batch_size):
            stop = start + batch_size
            decoded = self.module.decode(
                codes[start:stop].to(device), batch_index[start:stop].to(device)
            )
            outputs.append(decoded.cpu())
        expression = torch.cat(outputs).numpy()
        is_counts = self.module.gene_likelihood in COUNT_LIKELIHOODS
        if is_counts and library_size is not None:
            expression = expression * library_size
        return expression

    def get_normalized_expression(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        library_size: float | None = 1e4,
        give_mean: bool = True,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Decoded expression of cells, from their posterior means (or one sample).

        Parameters
        ----------
        adata
            AnnData set up like the training data; defaults to it.
        indices
            Cells to use; defaults to all.
        library_size
            See :meth:`decode`.
        give_mean
            Decode the posterior means; otherwise one posterior sample per cell.
        batch_size
            Cells per minibatch.

        Returns
        -------
        Array of shape ``(n_cells, n_genes)``.

        Examples
        --------
        >>> expression = model.get_normalized_expression(library_size=1e4)
        """
        adata = self._validate_anndata(adata)
        codes = self.get_latent_representation(
            adata, indices=indices, give_mean=give_mean, batch_size=batch_size
        )
        manager = self.get_anndata_manager(adata, required=True)
        batch = np.asarray(manager.get_from_registry(REGISTRY_KEYS.BATCH_KEY)).ravel()
        if indices is not None:
            batch = batch[np.asarray(indices)]
        return self.decode(codes, batch=batch, library_size=library_size)


def _check_hidden_widths(n_hidden) -> None:
    widths = list(n_hidden) if isinstance(n_hidden, Sequence) else None
    if not widths or not all(
        isinstance(w, int | np.integer) and not isinstance(w, bool) and w > 0 for w in widths
    ):
        raise ValueError(
            f"n_hidden must be a non-empty sequence of positive layer widths, got {n_hidden!r}; "
            "for example n_hidden=(512, 256)"
        )
