"""MichiGAN: a disentangled representation, then a conditional WGAN-GP on its codes."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence

import numpy as np
from anndata import AnnData
from sklearn.neighbors import NearestNeighbors

from .._docs import insert_docs
from .._validation import check_choice, check_positive_int
from ..module import CODE_SOURCES, GAN_KEYS, CodeSource
from ._gan_base import GANModelBase
from ._latent_arithmetic import LatentArithmeticMixin
from ._saved import module_fingerprint
from ._tcvae import TCVAE
from ._traversal import TraversalMixin

logger = logging.getLogger(__name__)

#: Sub-folder of a saved MichiGAN that holds its β-TCVAE.
TCVAE_DIR = "tcvae"
#: Training cells nearest a code in code space whose library sizes a generated cell draws from.
LIBRARY_NEIGHBOURS = 10
#: Trainer arguments that belong to the GAN stage only (not passed to the β-TCVAE).
_GAN_ONLY_TRAINER_KWARGS = ("callbacks", "ckpt_path", "max_steps")


@insert_docs
class MichiGAN(LatentArithmeticMixin, TraversalMixin, GANModelBase):
    """MichiGAN (Yu & Welch, 2021): disentangled codes plus a conditional WGAN-GP.

    Two stages, trained one after the other by :meth:`train`:

    1. a representation ``z`` of each cell: a :class:`~michigan.TCVAE` the model trains
       itself (``representation=None``), one already trained, or a matrix of ``adata.obsm``
       (e.g. PCA codes, "MichiGAN-PCA");
    2. with the representation frozen, a Wasserstein GAN with gradient penalty whose
       generator maps ``[z, noise]`` to a cell and whose projection critic scores
       ``(x, z)`` pairs (:class:`~michigan.module.GANModule`,
       :class:`~michigan.train.WGANTrainingPlan`).

    Generated cells then carry the semantics of the codes they were generated from
    (:meth:`generate`, :meth:`traverse`) with the realism of a GAN.

    **The data the GAN learns.** By default the log-normalised expression of the registered
    counts, ``log1p(1e4 · x / Σx)`` per cell (as ``sc.pp.normalize_total(target_sum=1e4)``
    then ``sc.pp.log1p``), computed per minibatch; generated cells are in that space. Name a
    processed layer with ``gan_layer`` to learn it as it is instead.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata` (raw counts in the registered layer).
    representation
        ``None`` (train a β-TCVAE on the registered counts first; ``tcvae_kwargs`` go to
        :class:`~michigan.TCVAE`), a :class:`~michigan.TCVAE` (trained, or trained by
        :meth:`train` if not; set up on the same layer and batch key), or the key of a matrix
        in ``adata.obsm`` (e.g. ``"X_pca"``).
    code_source
        ``"mean"``: each cell is conditioned on its posterior mean; ``"sample"``: on a fresh
        draw from its posterior, every minibatch (the encoder frozen; needs a β-TCVAE). The
        paper found ``"sample"`` predicted better.
    n_noise
        Width of the noise given to the generator with the code (118, so that ``[z, noise]``
        has 128 entries with the paper's 10 latents; 0 makes the generator deterministic).
    projection
        ``"learned"`` (``D = wᵀh + b + (Vz)ᵀh`` with a learned ``V``) or ``"identity"``
        (``V = I``, the original code's choice).
    tcvae_kwargs
        Passed to :class:`~michigan.TCVAE` when ``representation=None``, e.g.
        ``{"n_latent": 10, "beta": 10}``.
    %(gan_network_options)s

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.splatter_paths(seed=0)
    >>> mg.MichiGAN.setup_anndata(adata, layer="counts")
    >>> model = mg.MichiGAN(adata, code_source="sample", tcvae_kwargs={"beta": 10})
    >>> model.train()  # stage 1: β-TCVAE, stage 2: the conditional GAN
    >>> adata.obsm["X_michigan"] = model.get_latent_representation()
    >>> generated = model.generate(n_samples=3000, seed=0)
    >>> path = model.traverse(cell=0, dim=2)
    """

    def __init__(
        self,
        adata: AnnData | None = None,
        representation: TCVAE | str | None = None,
        code_source: CodeSource = "mean",
        n_noise: int = 118,
        projection: str = "learned",
        tcvae_kwargs: dict | None = None,
        **network_kwargs,
    ):
        if "code" in network_kwargs:
            warnings.warn(
                "MichiGAN(code=...) is now MichiGAN(code_source=...)", FutureWarning, stacklevel=2
            )
            code_source = network_kwargs.pop("code")
        check_choice(code_source, "code_source", CODE_SOURCES)
        if adata is None:
            raise ValueError("MichiGAN needs the AnnData it learns: MichiGAN(adata, ...)")
        if representation is not None and not isinstance(representation, TCVAE | str):
            raise TypeError(
                "representation must be None (train a β-TCVAE first), a TCVAE, or the key of "
                f"a matrix in adata.obsm such as 'X_pca'; got {type(representation).__name__}"
            )
        if tcvae_kwargs is not None and representation is not None:
            raise ValueError("tcvae_kwargs apply only with representation=None; drop them")
        if isinstance(representation, str):
            if code_source == "sample":
                raise ValueError(
                    "code_source='sample' draws from the encoder's posterior, which an .obsm "
                    "representation does not have; pass code_source='mean', or "
                    "representation=None (or a TCVAE)"
                )
            n_code = _check_obsm(adata, representation).shape[1]
        super().__init__(adata)
        if isinstance(representation, TCVAE):
            self._check_tcvae(representation)
            n_code = representation.module.n_latent
        elif representation is None:
            tcvae_kwargs = dict(tcvae_kwargs or {})
            n_code = check_positive_int(tcvae_kwargs.get("n_latent", 10), "n_latent")
        self.module = self._build_module(
            n_code, n_noise, code_source, projection=projection, **network_kwargs
        )
        self.representation_key = representation if isinstance(representation, str) else None
        if representation is None:
            TCVAE.setup_anndata(adata, **self._setup_args())
            representation = TCVAE(adata, **tcvae_kwargs)
        self.tcvae: TCVAE | None = representation if isinstance(representation, TCVAE) else None
        self.codes_: np.ndarray | None = None
        self.code_scales_: np.ndarray | None = None
        self._code_neighbours: tuple[np.ndarray, NearestNeighbors] | None = None
        source = f"adata.obsm[{self.representation_key!r}]" if self.tcvae is None else "β-TCVAE"
        self._model_summary_string = (
            f"MichiGAN on {source} codes ({n_code} dimensions, code_source={code_source!r}), "
            f"n_noise="
            f"{n_noise}, projection={projection!r}; the GAN learns {self.expression_}."
        )
        self.init_params_ = self._get_init_params(locals())
        if self.tcvae is not None:
            # Saved as "its own β-TCVAE of this architecture"; load() restores the weights.
            params = self.tcvae.init_params_
            flat = {k: v for group in params["kwargs"].values() for k, v in group.items()}
            self.init_params_["non_kwargs"]["representation"] = None
            self.init_params_["non_kwargs"]["tcvae_kwargs"] = {**params["non_kwargs"], **flat}

    def _setup_args(self) -> dict:
        args = self.adata_manager.registry["setup_args"]
        return {key: args.get(key) for key in ("layer", "batch_key", "labels_key")}

    def _check_tcvae(self, tcvae: TCVAE) -> None:
        tcvae_genes = np.asarray(tcvae.adata_manager.adata.var_names, dtype=str)
        if not np.array_equal(tcvae_genes, np.asarray(self.adata.var_names, dtype=str)):
            raise ValueError(
                "the TCVAE was trained on other genes (or another order) than adata has; "
                "subset adata to the TCVAE's genes, in its order"
            )
        theirs = tcvae.adata_manager.registry["setup_args"]
        ours = self._setup_args()
        for key in ("layer", "batch_key"):
            if theirs.get(key) != ours[key]:
                raise ValueError(
                    f"the TCVAE was set up with {key}={theirs.get(key)!r} but MichiGAN with "
                    f"{key}={ours[key]!r}; set up MichiGAN like the TCVAE "
                    f"(MichiGAN.setup_anndata(adata, {key}={theirs.get(key)!r}, ...)), and name "
                    "a processed layer for the GAN with gan_layer=..."
                )

    def _posterior(
        self, adata: AnnData, indices: Sequence[int] | None = None, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes of cells (posterior means) and, with a β-TCVAE, their posterior SDs."""
        if self.tcvae is not None:
            mean, variance = self.tcvae.get_latent_representation(
                adata, indices=indices, batch_size=batch_size, return_dist=True
            )
            return mean.astype(np.float32), np.sqrt(variance).astype(np.float32)
        codes = _check_obsm(adata, self.representation_key)
        codes = np.asarray(codes if indices is None else codes[np.asarray(indices)])
        return codes.astype(np.float32), None

    @insert_docs
    def train(
        self,
        max_epochs: int | None = None,
        max_epochs_tcvae: int | None = None,
        tcvae_train_kwargs: dict | None = None,
        **kwargs,
    ):
        """Train the β-TCVAE (if it is not trained yet), then the conditional GAN.

        Every argument is checked first; then each stage trains with its own epochs and its
        own progress bar. The GAN trains on every cell; one epoch is one pass of the critic
        over the cells, with a generator step every ``n_critic`` minibatches.

        Parameters
        ----------
        max_epochs_tcvae
            β-TCVAE epochs; ``None``: its default (100 from 10,000 cells up, more for fewer
            cells: :meth:`michigan.TCVAE.train`).
        tcvae_train_kwargs
            Passed to :meth:`michigan.TCVAE.train` (override the shared arguments), e.g.
            ``{"batch_size": 256, "lr": 1e-3}``. ``accelerator``, ``devices`` and the
            trainer arguments also go to the β-TCVAE, except ``callbacks``, ``ckpt_path`` and
            ``max_steps`` (GAN stage only).
        %(gan_train_params)s

        Examples
        --------
        >>> model.train(max_epochs=1000, max_epochs_tcvae=1000, accelerator="gpu")  # paper
        >>> model.train(accelerator="cpu", devices=2, strategy="ddp")  # two processes
        """
        self._representation_train_kwargs = {
            "max_epochs": max_epochs_tcvae,
            **(tcvae_train_kwargs or {}),
        }
        return super().train(max_epochs, **kwargs)

    def _train_representation(self, accelerator, devices, trainer_kwargs: dict) -> None:
        """Stage 1: train the β-TCVAE if it is not trained yet; compute the training codes."""
        if self.tcvae is not None and not self.tcvae.is_trained:
            logger.info("Stage 1/2: training the β-TCVAE.")
            stage_one = {
                k: v for k, v in trainer_kwargs.items() if k not in _GAN_ONLY_TRAINER_KWARGS
            }
            self.tcvae.train(
                **{
                    "accelerator": accelerator,
                    "devices": devices,
                    **stage_one,
                    **getattr(self, "_representation_train_kwargs", {}),
                }
            )
        logger.info("Stage 2/2: training the conditional WGAN-GP.")
        self.codes_, self.code_scales_ = self._compute_training_codes()

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        extra = {GAN_KEYS.CODE_LOC: self.codes_}
        if self.code_scales_ is not None:
            extra[GAN_KEYS.CODE_SCALE] = self.code_scales_
        return extra

    def _generation_uns(self) -> dict:
        return {"code_source": self.module.code_source}

    def _encode(
        self,
        adata: AnnData,
        indices: Sequence[int] | None,
        give_mean: bool,
        batch_size: int | None,
    ) -> np.ndarray:
        """Codes under the representation (β-TCVAE or ``.obsm`` matrix)."""
        if self.tcvae is not None:
            return self.tcvae.get_latent_representation(
                adata, indices=indices, give_mean=give_mean, batch_size=batch_size
            )
        if not give_mean:
            raise ValueError(
                f"adata.obsm[{self.representation_key!r}] holds one code per cell, not a "
                "posterior to sample from: pass give_mean=True"
            )
        return self._posterior(adata, indices)[0]

    def _codes_for_cells(self, adata: AnnData, rng: np.random.Generator) -> np.ndarray:
        mean, scale = self._posterior(adata)
        return self._draw(mean, scale, rng)

    def _sample_codes(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Codes of ``n`` training cells drawn with replacement (posterior draws if sampled)."""
        mean, scale = self._training_codes()
        index = rng.integers(len(mean), size=n)
        codes = self._draw(mean[index], None if scale is None else scale[index], rng)
        return codes, {
            "generated_from": np.full(n, "training cells"),
            "source_cell": np.asarray(self.adata.obs_names)[index],
        }

    def _training_codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes (and posterior SDs) of the training cells."""
        if self.codes_ is None:
            self.codes_, self.code_scales_ = self._compute_training_codes()
        return self.codes_, self.code_scales_

    def _cell_states(self, cells: np.ndarray, counts) -> np.ndarray:
        """The training cells' codes (posterior means): the states the generator is given."""
        return self._training_codes()[0][cells]

    def _libraries_for_codes(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The library size of one of the ``LIBRARY_NEIGHBOURS`` training cells nearest each code.

        A code describes a cell's state, and depth goes with state (a monocyte holds more
        counts than a T cell): a library drawn regardless of the code would give a monocyte's
        profile a T cell's depth, and so its zeros. The neighbours are found among the
        training cells' codes (posterior means), one picked at random per code.
        """
        training_codes = self._training_codes()[0]
        cached = self._code_neighbours
        if cached is None or cached[0] is not training_codes:
            search = NearestNeighbors(n_neighbors=min(LIBRARY_NEIGHBOURS, len(training_codes)))
            cached = self._code_neighbours = (training_codes, search.fit(training_codes))
        search = cached[1]
        neighbours = search.kneighbors(np.asarray(codes, dtype=np.float32), return_distance=False)
        pick = rng.integers(search.n_neighbors, size=len(codes))
        picked = neighbours[np.arange(len(codes)), pick]
        return self._training_library_sizes()[picked]

    def _library_source(self) -> str:
        return f"those of one of the {LIBRARY_NEIGHBOURS} training cells nearest each code"

    def _draw(self, mean: np.ndarray, scale: np.ndarray | None, rng) -> np.ndarray:
        if self.module.code_source != "sample" or scale is None:
            return mean
        return (mean + scale * rng.standard_normal(mean.shape)).astype(np.float32)

    def _compute_training_codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.tcvae is not None and not self.tcvae.is_trained:
            raise ValueError("the representation is not trained yet: call model.train() first")
        mean, scale = self._posterior(self.adata)
        return mean, scale if self.module.code_source == "sample" else None

    def _arithmetic_codes(
        self, adata: AnnData, indices: np.ndarray, give_mean: bool, seed: int | None
    ) -> np.ndarray:
        mean, scale = self._posterior(adata, indices)
        if give_mean or scale is None:
            return mean
        rng = np.random.default_rng(self._resolve_seed(seed))
        return (mean + scale * rng.standard_normal(mean.shape)).astype(np.float32)

    def _arithmetic_expression(
        self,
        codes: np.ndarray,
        adata: AnnData,
        source: np.ndarray,
        seed: int | None,
        expression: str,
    ) -> np.ndarray:
        # A count head draws each predicted cell at its source cell's library size: in
        # training the generator drew every cell at the library of the real cell whose code
        # it was given, and the β-TCVAE's codes do not hold the library.
        library = self._own_library_sizes(adata)[source] if self.module.draws_counts else None
        return self._generate_expression(
            codes, len(codes), self._resolve_seed(seed), library=library
        )

    def save(
        self,
        dir_path: str,
        prefix: str | None = None,
        overwrite: bool = False,
        save_anndata: bool = False,
        **kwargs,
    ) -> None:
        """Save the model, its β-TCVAE in the sub-folder ``tcvae/``.

        Parameters
        ----------
        dir_path
            Folder to write.
        prefix
            Prefix of the file names.
        overwrite
            Overwrite an existing folder.
        save_anndata
            Also write the AnnData.
        **kwargs
            Passed to :meth:`scvi.model.base.BaseModelClass.save`.

        Examples
        --------
        >>> model.save("michigan/", overwrite=True)
        >>> model = mg.MichiGAN.load("michigan/", adata=adata)
        """
        if self.tcvae is not None:
            # Recognises this β-TCVAE at load time (a foreign ``tcvae/`` folder is an error).
            self.tcvae_fingerprint_ = module_fingerprint(self.tcvae.module)
        super().save(
            str(dir_path), prefix=prefix, overwrite=overwrite, save_anndata=save_anndata, **kwargs
        )
        if self.tcvae is not None:
            tcvae_dir = os.path.join(str(dir_path), f"{prefix or ''}{TCVAE_DIR}")
            self.tcvae.save(tcvae_dir, overwrite=True)

    def _load_parts(
        self, dir_path: str, prefix: str | None, accelerator: str, device: int | str
    ) -> None:
        """Load the β-TCVAE saved in ``tcvae/``, checking it is the one trained with."""
        if self.tcvae is None:
            return
        tcvae_dir = os.path.join(str(dir_path), f"{prefix or ''}{TCVAE_DIR}")
        self.tcvae = TCVAE.load(
            tcvae_dir, adata=self.adata, accelerator=accelerator, device=device
        )
        saved = getattr(self, "tcvae_fingerprint_", None)
        if saved is not None and saved != module_fingerprint(self.tcvae.module):
            raise ValueError(
                f"{tcvae_dir} holds another β-TCVAE than the one this MichiGAN was trained "
                "on; save the model again with model.save(...), or restore the folder "
                "written with it"
            )


def _check_obsm(adata: AnnData, key: str) -> np.ndarray:
    """The matrix ``adata.obsm[key]``, checked to be usable as codes."""
    if key not in adata.obsm:
        available = ", ".join(map(repr, adata.obsm.keys())) or "none"
        raise ValueError(
            f"{key!r} is not in adata.obsm (keys: {available}); compute it first (e.g. "
            "sc.pp.pca(adata) for 'X_pca') or pass representation=None to train a β-TCVAE"
        )
    codes = adata.obsm[key]
    codes = codes.toarray() if hasattr(codes, "toarray") else np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] < 1 or not np.issubdtype(codes.dtype, np.number):
        raise ValueError(
            f"adata.obsm[{key!r}] must be a numeric matrix with one row per cell, got shape "
            f"{codes.shape} and dtype {codes.dtype}"
        )
    if not np.isfinite(codes).all():
        raise ValueError(f"adata.obsm[{key!r}] holds NaN or infinite values; impute or drop them")
    return codes
