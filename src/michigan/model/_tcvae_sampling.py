"""Cells drawn from a VAE's likelihood ``p(x | z)``: posterior-predictive and prior samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scvi import REGISTRY_KEYS

from .._normalize import TARGET_SUM, log_normalize
from .._validation import check_codes, check_positive_int
from ..data import row_sums
from ..module import COUNT_LIKELIHOODS
from ._generation import CODES_KEY, GENERATION_UNS_KEY, GenerationMixin


def draw_from_likelihood(
    parameters: dict[str, np.ndarray], gene_likelihood: str, rng: np.random.Generator
) -> np.ndarray:
    """One draw per entry from a gene likelihood, given its parameters.

    Parameters
    ----------
    parameters
        ``mean`` (cells × genes) for every likelihood; ``theta`` (inverse dispersion, per
        gene) for ``"nb"`` and ``"zinb"``; ``dropout`` (probability of a structural zero,
        cells × genes) for ``"zinb"``; ``scale`` (standard deviation, per gene) for
        ``"normal"``.
    gene_likelihood
        ``"nb"``, ``"zinb"``, ``"poisson"`` or ``"normal"``.
    rng
        Random generator of the draws.

    Returns
    -------
    Array of the shape of ``parameters["mean"]``: integer counts (as float64) for the count
    likelihoods, real values for ``"normal"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> draws = draw_from_likelihood({"mean": np.full((2000, 1), 4.0)}, "poisson", rng)
    >>> round(float(draws.mean()))
    4
    """
    mean = np.asarray(parameters["mean"], dtype=np.float64)
    if gene_likelihood == "normal":
        return rng.normal(mean, np.asarray(parameters["scale"], dtype=np.float64))
    if gene_likelihood == "poisson":
        return rng.poisson(mean).astype(np.float64)
    theta = np.broadcast_to(np.asarray(parameters["theta"], dtype=np.float64), mean.shape)
    # NB(μ, θ) as a gamma-Poisson mixture: rate ~ Gamma(shape θ, scale μ/θ), x ~ Poisson(rate)
    counts = rng.poisson(rng.gamma(theta, mean / theta)).astype(np.float64)
    if gene_likelihood == "zinb":
        counts[rng.random(mean.shape) < parameters["dropout"]] = 0.0
    return counts


class PosteriorPredictiveMixin:
    """Adds :meth:`generate` to a VAE: cells drawn from its likelihood, not its mean.

    A model provides ``module`` (a :class:`~michigan.module.TCVAEModule`), ``adata`` and
    :meth:`get_latent_representation` with ``return_dist``.
    """

    def generate(
        self,
        codes: np.ndarray | None = None,
        n_samples: int | None = None,
        adata: AnnData | None = None,
        seed: int | None = None,
        batch: int | Sequence[int] | None = None,
        library_size: float | Sequence[float] | None = None,
        give_mean: bool = False,
        batch_size: int = 1024,
    ) -> AnnData:
        """Draw cells from the generative model: codes, then counts from ``p(x | z)``.

        Unlike :meth:`decode` (the expected expression), every cell is a draw from the
        likelihood, with its noise and its zeros: ``x ~ NB(ℓ · ρ(z), θ)`` for ``"nb"``,
        with a structural zero of probability ``π(z)`` on top for ``"zinb"``,
        ``Poisson(ℓ · ρ(z))`` for ``"poisson"``, ``Normal(μ(z), σ)`` for ``"normal"``. The
        codes ``z`` are

        - ``codes``: one cell per row (``n_samples`` cells per row when given);
        - ``adata``: one cell per cell of ``adata``, from a draw of its posterior
          ``q(z | x)`` (its mean with ``give_mean=True``), with its own library size and
          batch: the posterior predictive;
        - neither: ``n_samples`` cells (default: as many as training cells) from the prior
          ``N(0, I)``.

        Parameters
        ----------
        codes
            Array of shape ``(n, n_latent)`` (a single code may be 1-D).
        n_samples
            Number of cells (without ``codes``), or cells per code (with ``codes``).
        adata
            Cells whose posteriors to draw from, with the training genes (matched by name;
            only read).
        seed
            Seed of every draw (codes, library sizes, counts); ``None`` draws one from
            torch's global generator (seeded by ``scvi.settings.seed``). The seed used is in
            ``.uns["michigan"]["seed"]``.
        batch
            Batch index of the cells made from ``codes`` or the prior (one for all, or one
            per cell); ``None`` takes the batch of the training cell each library size is
            drawn from.
        library_size
            Library size ``ℓ`` of every cell (one for all, or one per cell; count
            likelihoods only). ``None`` draws each from the training cells' total counts
            (with ``adata``: each cell's own). A model built with ``decode_library=True``
            decodes each cell's library size from its code and refuses this argument.
        give_mean
            With ``adata``: decode each cell's posterior mean instead of a posterior draw.
        batch_size
            Cells decoded at a time.

        Returns
        -------
        AnnData of the generated cells over the model's genes. Count likelihoods: integer
        counts in ``.layers["counts"]`` (``float32``), ``log1p(1e4 · x / Σx)`` of them in
        ``.X`` (so every cell's ``Σ expm1(.X)`` is 10,000, like MichiGAN's cells) and their
        totals in ``.obs["library_size"]``; ``"normal"``: the draws in ``.X``, in the
        space of the training data. Also the codes in ``.obsm["X_michigan"]``, the
        provenance in ``.obs`` (``generated_from``, and ``source_cell`` or ``code_index``)
        and the settings in ``.uns["michigan"]``.

        Examples
        --------
        >>> cells = model.generate(n_samples=3000, seed=0)  # from the prior
        >>> twins = model.generate(adata=adata, seed=0)  # the posterior predictive
        >>> cells.layers["counts"]  # integer counts
        >>> sc.pp.pca(cells)  # .X is log-normalised like real cells
        """
        if codes is not None and adata is not None:
            raise ValueError("pass either codes or adata (to use its cells' posteriors), not both")
        if give_mean and adata is None:
            raise ValueError("give_mean applies to adata=...: it decodes posterior means")
        check_positive_int(batch_size, "batch_size")
        seed = GenerationMixin._resolve_seed(seed)
        rng = np.random.default_rng(seed)
        if adata is not None:
            if n_samples is not None:
                raise ValueError("with adata, one cell is drawn per cell: drop n_samples")
            if batch is not None:
                raise ValueError("with adata, each cell keeps its own batch: drop batch")
            z, batch_index, library, obs = self._posterior_draws(adata, give_mean, rng)
        else:
            if codes is not None:
                codes = self._check_latent_codes(codes)
                per_code = 1 if n_samples is None else check_positive_int(n_samples, "n_samples")
                index = np.repeat(np.arange(len(codes)), per_code)
                z, obs = codes[index], {"generated_from": "codes", "code_index": index}
            else:
                n_cells = (
                    self.adata.n_obs
                    if n_samples is None
                    else check_positive_int(n_samples, "n_samples")
                )
                z = rng.standard_normal((n_cells, self.module.n_latent))
                obs = {"generated_from": "prior"}
            batch_index, library = self._training_batches_and_libraries(len(z), batch, rng)
        if library_size is not None:
            if self.module.gene_likelihood not in COUNT_LIKELIHOODS:
                raise ValueError(
                    "library_size applies to the count likelihoods; this model's "
                    f"gene_likelihood is {self.module.gene_likelihood!r}: drop library_size"
                )
            if self.module.decode_library:
                raise ValueError(
                    "this model decodes each cell's library size from its code "
                    "(decode_library=True): drop library_size, or walk the latent that "
                    "carries library size"
                )
            library = _check_library_sizes(library_size, len(z))
        parameters = self._likelihood_parameters(z, batch_index, library, batch_size)
        draws = draw_from_likelihood(parameters, self.module.gene_likelihood, rng)
        return self._sampled_cells(draws, z, obs, seed)

    def _check_latent_codes(self, codes) -> np.ndarray:
        return check_codes(codes, self.module.n_latent, "latent", dtype=np.float64)

    @property
    def _takes_observed_library(self) -> bool:
        """Whether generated counts are scaled by a given library size.

        True for count likelihoods whose decoder does not predict the library itself
        (``decode_library=False``).
        """
        return self.module.gene_likelihood in COUNT_LIKELIHOODS and not self.module.decode_library

    def _registered(self, adata: AnnData, key: str) -> np.ndarray:
        manager = self.get_anndata_manager(adata, required=True)
        return manager.get_from_registry(key)

    def _cell_libraries(self, adata: AnnData) -> np.ndarray:
        matrix = self._registered(adata, REGISTRY_KEYS.X_KEY)
        return row_sums(matrix)  # streamed over a backed file

    def _cell_batches(self, adata: AnnData) -> np.ndarray:
        return np.asarray(self._registered(adata, REGISTRY_KEYS.BATCH_KEY)).ravel().astype(int)

    def _posterior_draws(self, adata: AnnData, give_mean: bool, rng: np.random.Generator):
        """Codes (posterior draws or means), batches and libraries of the cells of ``adata``.

        Its genes are matched to the model's by name (reordered when needed); ``adata`` is
        only read.
        """
        validated = self._validate_anndata(adata)
        mean, variance = self.get_latent_representation(validated, return_dist=True)
        z = mean if give_mean else mean + np.sqrt(variance) * rng.standard_normal(mean.shape)
        obs = {"generated_from": "adata", "source_cell": np.asarray(adata.obs_names)}
        return z, self._cell_batches(validated), self._cell_libraries(validated), obs

    def _training_batches_and_libraries(
        self, n_cells: int, batch: int | Sequence[int] | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Library sizes (and batches) of training cells drawn with replacement."""
        donors = rng.integers(self.adata.n_obs, size=n_cells)
        library = self._cell_libraries(self.adata)[donors]
        if batch is None:
            return self._cell_batches(self.adata)[donors], library
        batch_index = np.broadcast_to(np.asarray(batch), (n_cells,)).astype(int)
        n_batch = max(self.module.n_batch, 1)
        if batch_index.min() < 0 or batch_index.max() >= n_batch:
            raise ValueError(
                f"batch must index one of the model's {n_batch} batch(es), 0 to {n_batch - 1}; "
                f"got {sorted(set(batch_index.tolist()))[:5]}"
            )
        return batch_index, library

    @torch.inference_mode()
    def _likelihood_parameters(
        self, z: np.ndarray, batch_index: np.ndarray, library: np.ndarray, batch_size: int
    ) -> dict[str, np.ndarray]:
        """Parameters of ``p(x | z)`` per cell, from the decoder (in evaluation mode)."""
        self._check_if_trained(warn=True)
        module = self.module
        module.eval()
        device = self.device
        z_all = torch.as_tensor(z, dtype=torch.float32)
        batch_all = torch.as_tensor(batch_index, dtype=torch.long).reshape(-1, 1)
        log_library = torch.log(torch.as_tensor(library, dtype=torch.float32).clamp_min(1.0))
        chunks: dict[str, list[np.ndarray]] = {"mean": [], "dropout": []}
        for start in range(0, len(z_all), batch_size):
            stop = start + batch_size
            px = module.generative(
                z_all[start:stop].to(device),
                log_library[start:stop].reshape(-1, 1).to(device),
                batch_all[start:stop].to(device),
            )["px"]
            # the ZINB's own mean includes the structural zeros, drawn separately below
            mean = px.mu if module.gene_likelihood == "zinb" else px.mean
            chunks["mean"].append(mean.cpu().numpy())
            if module.gene_likelihood == "zinb":
                chunks["dropout"].append(px.zi_probs.cpu().numpy())
        n_genes = module.n_input
        parameters = {
            name: np.concatenate(values) if values else np.zeros((0, n_genes))
            for name, values in chunks.items()
        }
        if module.gene_likelihood in ("nb", "zinb"):
            parameters["theta"] = torch.exp(module.px_log_theta).cpu().numpy()
        if module.gene_likelihood == "normal":
            parameters["scale"] = torch.exp(module.px_log_scale).cpu().numpy()
        return parameters

    def _sampled_cells(self, draws: np.ndarray, z: np.ndarray, obs: dict, seed: int) -> AnnData:
        n_cells = draws.shape[0]
        is_counts = self.module.gene_likelihood in COUNT_LIKELIHOODS
        names = pd.Index([f"generated-{i}" for i in range(n_cells)], dtype=str)
        cells = AnnData(
            X=(log_normalize(draws, TARGET_SUM) if is_counts else draws.astype(np.float32)),
            obs=pd.DataFrame({"source": "generated", **obs}, index=names),
            var=pd.DataFrame(index=pd.Index(self.adata.var_names.astype(str), copy=True)),
        )
        cells.obsm[CODES_KEY] = np.asarray(z, dtype=np.float32)
        expression = "normal draws, in the space of the training data"
        if is_counts:
            cells.layers["counts"] = draws.astype(np.float32)
            cells.obs["library_size"] = draws.sum(axis=1).astype(np.int64)
            expression = f"log1p({TARGET_SUM:g} · x / Σx) of sampled counts"
        cells.uns[GENERATION_UNS_KEY] = {
            "model": type(self).__name__,
            "expression": expression,
            "gene_likelihood": self.module.gene_likelihood,
            "seed": seed,
        }
        return cells


def _check_library_sizes(library_size, n_cells: int) -> np.ndarray:
    sizes = np.asarray(library_size, dtype=np.float64)
    if sizes.ndim > 1 or (sizes.ndim == 1 and len(sizes) != n_cells):
        raise ValueError(
            f"library_size must be one number or one per generated cell ({n_cells}), got "
            f"shape {sizes.shape}"
        )
    if not np.isfinite(sizes).all() or (sizes <= 0).any():
        raise ValueError("library_size must be positive and finite (total counts of a cell)")
    return np.broadcast_to(sizes, (n_cells,)).copy()
