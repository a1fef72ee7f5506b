"""Codes of cells and cells from codes, the same for every GAN model."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from anndata.io import read_h5ad
from scipy import sparse

from .._normalize import log_normalize
from .._validation import check_codes, check_positive_int, get_matrix
from ..data import row_sums
from ._generated_file import check_output_file, write_generated_h5ad

#: ``.obsm`` key of the codes of generated cells (and the usual key of a model's codes).
CODES_KEY = "X_michigan"
#: ``.uns`` key of the settings of generated cells.
GENERATION_UNS_KEY = "michigan"


def sample_counts(
    expression: np.ndarray,
    library_sizes: np.ndarray,
    rng: np.random.Generator,
    chunk_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts from log-normalised profiles, with library sizes drawn from real ones.

    Each cell draws a library ``L`` from ``library_sizes`` (with replacement) and its counts
    from ``Multinomial(L, p)`` with ``p = expm1(x) / Σ_genes expm1(x)``: its counts sum to
    ``L`` exactly. A cell whose profile is all zero gets a uniform ``p``.

    Parameters
    ----------
    expression
        Log-normalised cells × genes, ``log1p(target_sum · x / Σx)``.
    library_sizes
        Library sizes (total counts) of real cells to draw from.
    rng
        Random generator of the draws.
    chunk_size
        Cells drawn at a time (bounds the float64 working memory).

    Returns
    -------
    The drawn library sizes (``int64``, one per cell) and the counts (``float32`` holding
    integers, cells × genes).

    Examples
    --------
    >>> x = np.log1p(np.array([[5000.0, 5000.0, 0.0]]))
    >>> library, counts = sample_counts(x, np.array([100.0]), np.random.default_rng(0))
    >>> int(library[0]), int(counts.sum()), float(counts[0, 2])
    (100, 100, 0.0)
    """
    library = draw_library_sizes(library_sizes, expression.shape[0], rng)
    counts = np.zeros(expression.shape, dtype=np.float32)
    for start in range(0, expression.shape[0], chunk_size):
        stop = start + chunk_size
        counts[start:stop] = multinomial_counts(expression[start:stop], library[start:stop], rng)
    return library, counts


def draw_library_sizes(
    library_sizes: np.ndarray, n_cells: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_cells`` library sizes drawn with replacement from real ones (``int64``)."""
    library_sizes = np.rint(np.asarray(library_sizes, dtype=np.float64)).astype(np.int64)
    if library_sizes.size == 0 or library_sizes.min() < 0:
        raise ValueError("library_sizes must be non-empty and non-negative (total counts)")
    return rng.choice(library_sizes, size=n_cells, replace=True)


def multinomial_counts(
    expression: np.ndarray, library: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Counts ``~ Multinomial(library, expm1(x) / Σ expm1(x))`` of a block of cells.

    A cell whose profile is all zero gets a uniform profile. Memory: the block in float64.
    """
    profile = np.expm1(np.clip(np.asarray(expression, dtype=np.float64), 0, None))
    totals = profile.sum(axis=1, keepdims=True)
    profile = np.where(totals > 0, profile / np.where(totals > 0, totals, 1), 1.0)
    profile /= profile.sum(axis=1, keepdims=True)
    return rng.multinomial(library, profile).astype(np.float32)


def likelihood_counts(
    expression: np.ndarray,
    library: np.ndarray,
    dispersion: np.ndarray | None,
    poisson_rng: np.random.Generator,
    gamma_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Counts drawn at the mean ``library · p``, ``p = expm1(x) / Σ expm1(x)``, of a block.

    Negative binomial with per-gene ``dispersion`` θ (a gamma-Poisson draw: variance
    ``μ + μ²/θ``), or Poisson when ``dispersion`` is ``None``: how a generator with a
    :class:`~michigan.module.CountHead` turns its expected profiles into cells. The gamma
    and the Poisson draws come from two generators, so that drawing the rows of a matrix
    block by block gives the same counts whatever the blocks.

    Examples
    --------
    >>> x = np.log1p(np.array([[5000.0, 5000.0, 0.0]]))
    >>> counts = likelihood_counts(x, np.array([100]), None, np.random.default_rng(0))
    >>> counts.shape, float(counts[0, 2])
    ((1, 3), 0.0)
    """
    mean = np.expm1(np.clip(np.asarray(expression, dtype=np.float64), 0, None))
    totals = mean.sum(axis=1, keepdims=True)
    mean *= np.asarray(library, dtype=np.float64)[:, None] / np.where(totals > 0, totals, 1)
    if dispersion is not None:
        dispersion = np.asarray(dispersion, dtype=np.float64)
        mean = (poisson_rng if gamma_rng is None else gamma_rng).gamma(
            dispersion, mean / dispersion
        )
    return poisson_rng.poisson(mean).astype(np.float32)


class GenerationMixin:
    """``get_latent_representation`` and ``generate``, the same for every GAN model.

    A model provides ``module`` (a :class:`~michigan.module.GANModule`) and ``adata``, and,
    when its generator is conditioned on codes, the hooks :meth:`_encode` (the codes of
    cells), :meth:`_codes_for_cells` (the codes to generate a twin of each cell from) and
    :meth:`_sample_codes` (codes to generate from when none are given).
    """

    def get_latent_representation(
        self,
        adata: AnnData | None = None,
        indices: Sequence[int] | None = None,
        give_mean: bool = True,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """The codes of cells.

        Parameters
        ----------
        adata
            AnnData with the training genes; defaults to the training data.
        indices
            Cells to return; defaults to all.
        give_mean
            Posterior means (otherwise one posterior sample per cell, where the
            representation has a posterior).
        batch_size
            Cells per minibatch of the encoder.

        Returns
        -------
        Array of shape ``(n_cells, n_code)``.

        Examples
        --------
        >>> adata.obsm["X_michigan"] = model.get_latent_representation()
        """
        adata = self.adata if adata is None else adata
        return self._encode(adata, indices, give_mean, batch_size)

    def _encode(
        self,
        adata: AnnData,
        indices: Sequence[int] | None,
        give_mean: bool,
        batch_size: int | None,
    ) -> np.ndarray:
        raise TypeError(
            f"{type(self).__name__} is unconditional: its generator maps noise alone, so cells "
            "have no codes; use MichiGAN or InfoWGANGP for a representation"
        )

    def _codes_for_cells(self, adata: AnnData, rng: np.random.Generator) -> np.ndarray:
        """Hook: the code to generate a counterpart of each cell of ``adata`` from."""
        return self._encode(adata, None, True, None)

    def _sample_codes(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """Hook: ``n`` codes to generate from (``None``: unconditional) and their provenance."""
        return None, {"generated_from": np.full(n, "noise")}

    def _generation_uns(self) -> dict:
        """Hook: settings recorded in the generated cells' ``.uns["michigan"]``."""
        return {}

    def generate(
        self,
        codes: np.ndarray | None = None,
        n_samples: int | None = None,
        adata: AnnData | None = None,
        seed: int | None = None,
        inplace: bool = False,
        key_added: str = "michigan_generated",
        batch_size: int = 1024,
        counts: bool = False,
        out: str | os.PathLike | None = None,
    ) -> AnnData:
        """Generate cells from codes, from the codes of real cells, or from the model's codes.

        - ``codes``: one cell per row (``n_samples`` cells per row when given);
        - ``adata``: one cell per cell of ``adata``, from its own code;
        - neither: ``n_samples`` cells (default: as many as training cells), from codes the
          model draws (see the model's class docs; noise alone for an unconditional model).

        Parameters
        ----------
        codes
            Array of shape ``(n, n_code)`` (a single code may be 1-D).
        n_samples
            Number of cells (without ``codes``), or cells per code (with ``codes``).
        adata
            Cells whose codes to generate from.
        seed
            Seed of the noise and of drawn codes; ``None`` draws one from torch's global
            generator (seeded by ``scvi.settings.seed``). The seed used is in
            ``.uns["michigan"]["seed"]``.
        inplace
            With ``adata``, also write the generated expression to ``adata.layers[key_added]``.
        key_added
            Layer written with ``inplace=True``.
        batch_size
            Cells generated at a time.
        counts
            Also return integer counts in ``.layers["counts"]``; such cells go through
            ``sc.pp.normalize_total`` and ``sc.pp.log1p`` like real ones. Each cell has a
            library size (in ``.obs["library_size"]``): with ``adata`` its own cell's; from
            codes, for a model whose codes describe cells (MichiGAN), that of one of the
            training cells nearest its code; otherwise one drawn from the training cells'
            (their registered counts). A generator
            with the count head (``output_head="counts"``, the default on counts) draws
            every cell's counts at that library from its likelihood anyway, and ``.X``
            holds them log-normalised: the counts are those. Other heads draw them from a
            multinomial over the genes with the generated profile ``expm1(x) / Σ expm1(x)``
            (summing to the library exactly).
            Needs a model that generates log-normalised expression.
        out
            Write the cells to this new ``.h5ad`` file, ``batch_size`` cells at a time
            (``.X`` dense, ``.layers["counts"]`` sparse), and return it opened backed
            (``backed="r"``; ``.to_memory()`` reads it whole). Memory then holds one batch of
            cells, not the whole output: for millions of cells. With ``inplace``, the layer
            written into ``adata`` is read back from the file.

        Returns
        -------
        AnnData of the generated cells: expression in ``.X`` (the space the GAN learned, see
        the class docs), codes in ``.obsm["X_michigan"]``, their provenance in ``.obs``
        (``generated_from``, and ``source_cell`` or ``code_index``), settings in
        ``.uns["michigan"]``; with ``counts=True`` also ``.layers["counts"]`` and
        ``.obs["library_size"]``. With ``out``, that AnnData backed by the file.

        Examples
        --------
        >>> cells = model.generate(n_samples=3000, seed=0)
        >>> twins = model.generate(adata=adata, inplace=True)  # adata.layers["michigan_generated"]
        >>> cells = model.generate(n_samples=3000, seed=0, counts=True)
        >>> sc.pp.normalize_total(cells, layer="counts")  # like real counts
        >>> on_disk = model.generate(n_samples=1_000_000, seed=0, out="generated.h5ad")
        """
        if codes is not None and self.module.n_code == 0:
            raise TypeError(
                f"{type(self).__name__} is unconditional: generate(codes=...) needs a model "
                "whose generator takes codes; drop codes"
            )
        if codes is not None and adata is not None:
            raise ValueError("pass either codes or adata (to use its cells' codes), not both")
        if inplace and adata is None:
            raise ValueError("inplace=True writes to adata.layers: pass adata=...")
        if inplace and adata.is_view:
            raise ValueError(
                "adata is a view: a layer written into it would not reach its parent; pass the "
                "parent AnnData, or adata.copy()"
            )
        check_positive_int(batch_size, "batch_size")
        if counts:
            self._check_counts_possible()
        if out is not None:
            out = check_output_file(out)
        seed = self._resolve_seed(seed)
        rng = np.random.default_rng(seed)
        if codes is not None:
            codes = self._check_codes(codes)
            per_code = 1 if n_samples is None else check_positive_int(n_samples, "n_samples")
            index = np.repeat(np.arange(len(codes)), per_code)
            codes, obs = codes[index], {"generated_from": "codes", "code_index": index}
            n_cells = len(codes)
        elif adata is not None:
            if n_samples is not None:
                raise ValueError("with adata, one cell is generated per cell: drop n_samples")
            self._check_genes(adata)
            codes = self._codes_for_cells(adata, rng)
            obs = {"generated_from": "adata", "source_cell": np.asarray(adata.obs_names)}
            n_cells = adata.n_obs
        else:
            n_cells = (
                self.adata.n_obs
                if n_samples is None
                else check_positive_int(n_samples, "n_samples")
            )
            codes, obs = self._sample_codes(n_cells, rng)
        uns = {"seed": seed, **self._generation_uns()}
        # a twin is drawn at its own cell's library, as the generator was trained
        own = None if adata is None else self._own_library_sizes(adata)
        library, counts_rng = self._drawn_libraries(n_cells, seed, counts, own, codes)
        if library is not None:
            obs["library_size"] = library
        if counts:
            whose = "each source cell's own" if adata is not None else self._library_source()
            uns["counts"] = f"{self._count_draw_description()}; library sizes {whose}"
        blocks = self._cell_blocks(
            codes, n_cells, seed, batch_size, library, counts_rng, keep_counts=counts
        )
        if out is None:
            matrices = _stacked(blocks, n_cells, self.module.n_genes)
            cells = self._cells(matrices.pop("X"), obs, codes, uns)
            cells.layers.update(matrices)
        else:
            empty = sparse.csr_matrix((n_cells, self.module.n_genes), dtype=np.float32)
            skeleton = self._cells(empty, obs, codes, uns)
            write_generated_h5ad(
                out,
                blocks,
                obs=skeleton.obs,
                var_names=skeleton.var_names,
                obsm=dict(skeleton.obsm),
                uns=dict(skeleton.uns),
            )
            cells = read_h5ad(out, backed="r")
        if inplace:
            adata.layers[key_added] = cells.X if out is None else cells.X[:]
        return cells

    def _drawn_libraries(
        self,
        n_cells: int,
        seed: int,
        counts: bool = False,
        library: np.ndarray | None = None,
        codes: np.ndarray | None = None,
    ) -> tuple[np.ndarray | None, np.random.Generator | None]:
        """Library sizes of the cells to generate, and the generator of their count draws.

        ``library`` (one total count per cell, e.g. each source cell's own) when given, else
        sizes that go with ``codes`` (:meth:`_libraries_for_codes`), else sizes drawn from the
        training cells'. Only when counts are asked for or the generator draws counts anyway;
        else ``None, None``.
        """
        if not (counts or self.module.draws_counts):
            return None, None
        counts_rng = np.random.default_rng([seed, 1])
        if library is None and codes is not None:
            library = self._libraries_for_codes(codes, counts_rng)
        if library is None:
            library = draw_library_sizes(self._training_library_sizes(), n_cells, counts_rng)
            return library, counts_rng
        library = np.rint(np.asarray(library, dtype=np.float64)).astype(np.int64)
        if library.shape != (n_cells,) or library.min(initial=0) < 0:
            raise ValueError(
                f"library must hold {n_cells} non-negative total counts, one per cell; "
                f"got shape {library.shape}"
            )
        return library, counts_rng

    def _libraries_for_codes(
        self, codes: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray | None:
        """Hook: a library size for each code (``None``: drawn from the training cells')."""
        return None

    def _library_source(self) -> str:
        """Hook: where the library sizes of cells generated from codes come from, in words."""
        return "drawn from the training cells'"

    def _count_draw_description(self) -> str:
        """How the counts of generated cells are drawn (for ``.uns["michigan"]["counts"]``)."""
        if not self.module.draws_counts:
            return "multinomial over the generated profile"
        if self.module.count_likelihood == "nb":
            return "negative binomial at the generated profile (per-gene dispersion learned)"
        return "Poisson at the generated profile"

    def _cell_blocks(
        self,
        codes: np.ndarray | None,
        n_cells: int,
        seed: int,
        batch_size: int,
        library: np.ndarray | None = None,
        counts_rng: np.random.Generator | None = None,
        keep_counts: bool = False,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Generated cells in blocks of rows: ``"X"``, and ``"counts"`` with ``keep_counts``.

        A generator that draws counts draws them here, at ``library``; its ``"X"`` is the
        counts log-normalised. Other generators' ``"X"`` is their output, and their counts
        (``keep_counts``) a multinomial draw at ``library``.
        """
        module = self.module
        dispersion = module.dispersion
        if dispersion is not None:
            dispersion = dispersion.detach().cpu().numpy()
        gamma_rng = np.random.default_rng([seed, 2])
        start = 0
        for expression in self._expression_chunks(codes, n_cells, seed, batch_size):
            stop = start + len(expression)
            block = {"X": expression}
            if module.draws_counts:
                drawn = likelihood_counts(
                    expression, library[start:stop], dispersion, counts_rng, gamma_rng
                )
                block["X"] = log_normalize(drawn, module.target_sum)
                if keep_counts:
                    block["counts"] = drawn
            elif keep_counts:
                block["counts"] = multinomial_counts(expression, library[start:stop], counts_rng)
            yield block
            start = stop

    def _generate_expression(
        self,
        codes: np.ndarray | None,
        n_cells: int,
        seed: int,
        batch_size: int = 1024,
        library: np.ndarray | None = None,
    ) -> np.ndarray:
        """Generated cells for codes (or ``n_cells`` unconditional cells), noise from ``seed``.

        A generator that draws counts draws each cell at ``library`` (one total count per
        cell), by default at library sizes that go with the codes (:meth:`_drawn_libraries`).
        """
        library, counts_rng = self._drawn_libraries(n_cells, seed, library=library, codes=codes)
        blocks = self._cell_blocks(codes, n_cells, seed, batch_size, library, counts_rng)
        return _stacked(blocks, n_cells, self.module.n_genes)["X"]

    def _expression_chunks(
        self, codes: np.ndarray | None, n_cells: int, seed: int, batch_size: int
    ) -> Iterator[np.ndarray]:
        """Generated cells, ``batch_size`` at a time, with the noise of :func:`noise_blocks`."""
        self._check_if_trained(warn=True)
        module = self.module
        module.eval()
        device = module.device
        blocks = noise_blocks(module, n_cells, seed)
        noise = torch.zeros((0, module.n_noise))
        for start in range(0, n_cells, batch_size):
            stop = min(start + batch_size, n_cells)
            while len(noise) < stop - start:
                noise = torch.cat([noise, next(blocks)])
            batch_noise, noise = noise[: stop - start], noise[stop - start :]
            code = None
            if codes is not None:
                code = torch.as_tensor(codes[start:stop], dtype=torch.float32, device=device)
            with torch.inference_mode():
                yield module.generate(code, batch_noise.to(device)).cpu().numpy()

    def _check_counts_possible(self) -> None:
        module = self.module
        if not (module.log_normalize or module.output_head == "library_size"):
            raise ValueError(
                "counts=True samples counts from log-normalised expression, but this model "
                f"learns {self.expression_}; train on counts (log_normalize=True) or with "
                "output_head='library_size', or drop counts"
            )

    def _training_library_sizes(self) -> np.ndarray:
        """Total registered counts of every training cell, summed once per matrix.

        Kept for the matrix they were summed over (the same object, shape and number of
        stored values), so repeated ``generate`` calls do not stream a backed file again; a
        replaced layer is summed anew.
        """
        matrix = get_matrix(self.adata, self.registered_layer)
        key = (id(matrix), tuple(matrix.shape), getattr(matrix, "nnz", None))
        cached = getattr(self, "_library_sizes_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, row_sums(matrix))  # streamed over a backed file
            self._library_sizes_cache = cached
        return cached[1]

    def _own_library_sizes(self, adata: AnnData) -> np.ndarray:
        """Total registered counts of each cell of ``adata`` (set up like the training data)."""
        if adata is self.adata:
            return self._training_library_sizes()
        return row_sums(get_matrix(adata, self.registered_layer))

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
            cells.obsm[CODES_KEY] = np.asarray(codes, dtype=np.float32)
        cells.uns[GENERATION_UNS_KEY] = {
            "model": type(self).__name__,
            "expression": self.expression_,
            **{key: value for key, value in uns.items() if value is not None},
        }
        return cells

    def _check_codes(self, codes) -> np.ndarray:
        return check_codes(codes, self.module.n_code, "dimension of the representation")

    def _check_genes(self, adata: AnnData) -> None:
        if not np.array_equal(
            np.asarray(adata.var_names, dtype=str), np.asarray(self.adata.var_names, dtype=str)
        ):
            raise ValueError(
                f"adata has {adata.n_vars} genes, not the {self.adata.n_vars} the model was "
                "trained on (in that order); subset it: adata[:, model.adata.var_names]"
            )


#: Cells whose noise is drawn at once: the noise of cell ``i`` depends on the seed and on the
#: number of cells, not on the ``batch_size`` of ``generate``.
NOISE_BLOCK = 1024


def noise_blocks(module, n_cells: int, seed: int) -> Iterator[torch.Tensor]:
    """The generator's noise for ``n_cells`` cells, in blocks of :data:`NOISE_BLOCK` rows.

    The noise ``generate(..., seed=seed)`` gives its ``n_cells`` cells, the same whatever its
    ``batch_size``: for example the noise vectors behind an unconditional WGAN-GP's cells.

    Parameters
    ----------
    module
        A :class:`~michigan.module.GANModule` (its ``sample_noise`` draws the noise).
    n_cells
        Number of cells.
    seed
        The seed passed to ``generate``.

    Examples
    --------
    >>> cells = model.generate(n_samples=100, seed=0)
    >>> noise = torch.cat(list(noise_blocks(model.module, 100, seed=0)))
    """
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, n_cells, NOISE_BLOCK):
        size = min(NOISE_BLOCK, n_cells - start)
        yield module.sample_noise(size, device="cpu", generator=generator)


def _stacked(
    blocks: Iterator[dict[str, np.ndarray]], n_cells: int, n_genes: int
) -> dict[str, np.ndarray]:
    """Row blocks written into preallocated matrices (one copy of the output, not two)."""
    matrices: dict[str, np.ndarray] = {"X": np.zeros((n_cells, n_genes), dtype=np.float32)}
    start = 0
    for block in blocks:
        stop = start + len(block["X"])
        for key, values in block.items():
            if key not in matrices:
                matrices[key] = np.zeros((n_cells, n_genes), dtype=np.float32)
            matrices[key][start:stop] = values
        start = stop
    return matrices
