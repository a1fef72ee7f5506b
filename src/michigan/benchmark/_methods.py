"""The methods of the benchmark: each fits on the cells and returns codes and generated cells."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scvi
import torch
from anndata import AnnData

from .._normalize import TARGET_SUM
from .._normalize import log_normalize as _log_normalize

#: Candidate mixture sizes of the GMM baseline (BIC picks one).
GMM_COMPONENTS = (1, 2, 4, 6, 8, 10)


@dataclass
class BenchmarkSettings:
    """Training settings shared by the methods of one run.

    Attributes
    ----------
    n_latent
        Code width of every encoder and conditional generator.
    beta
        Total-correlation weight of the β-TCVAE (also the weight of every KL term of the
        β-VAE).
    max_epochs_tcvae, max_epochs_gan
        Epochs of the VAEs and of the GANs.
    n_generated
        Cells generated per method (codes of as many real cells, or prior draws).
    accelerator
        Lightning's accelerator.
    tcvae_kwargs, gan_kwargs
        Extra arguments of every VAE / every GAN (e.g. smaller networks).
    seed
        Seed of the models and of the generated cells.
    """

    n_latent: int = 10
    beta: float = 10.0
    max_epochs_tcvae: int = 100
    max_epochs_gan: int = 25
    n_generated: int = 3_000
    accelerator: str = "auto"
    tcvae_kwargs: dict = field(default_factory=dict)
    gan_kwargs: dict = field(default_factory=dict)
    seed: int = 0


@dataclass
class MethodOutput:
    """What a method gives the metrics.

    Attributes
    ----------
    codes, posterior_var
        Codes of the real cells (and their posterior variances) for disentanglement.
    generated
        Generated cells, log-normalised like the real ones.
    generated_codes
        Codes the generated cells were made from (their factors are predicted by kNN).
    """

    codes: np.ndarray | None = None
    posterior_var: np.ndarray | None = None
    generated: np.ndarray | None = None
    generated_codes: np.ndarray | None = None


@dataclass
class BenchmarkData:
    """The cells of one run and what the methods share.

    Attributes
    ----------
    adata
        Cells with raw counts in ``.layers["counts"]``.
    log_expression
        Dense ``log1p(1e4 · x / Σx)`` of every cell: what GANs learn and generation is
        scored in.
    source_cells
        Real cells whose codes the conditional generators and decoders generate from.
    factors
        Ground-truth ``.obs`` columns.
    cache
        Models reused by later methods (MichiGAN reuses the β-TCVAE).
    """

    adata: AnnData
    log_expression: np.ndarray
    source_cells: np.ndarray
    factors: tuple[str, ...]
    cache: dict = field(default_factory=dict)


def log_normalize(counts) -> np.ndarray:
    """``log1p(TARGET_SUM · x / Σx)`` per cell, as a dense float32 array."""
    dense = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    return _log_normalize(dense, TARGET_SUM)


def _quiet_train(model, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train(enable_progress_bar=False, enable_model_summary=False, **kwargs)


def _train_vae(data: BenchmarkData, settings: BenchmarkSettings, **weights):
    from ..model import TCVAE

    scvi.settings.seed = settings.seed
    TCVAE.setup_anndata(data.adata, layer="counts")
    model = TCVAE(data.adata, n_latent=settings.n_latent, **weights, **settings.tcvae_kwargs)
    _quiet_train(
        model,
        max_epochs=settings.max_epochs_tcvae,
        train_size=1.0,
        accelerator=settings.accelerator,
    )
    return model


def _decoder_cells(model, data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Posterior of every cell, and cells drawn from the likelihood at the source cells' codes.

    A generated cell is a draw from the generative model (:meth:`michigan.TCVAE.generate`),
    ``x ~ NB(ℓ · ρ(z), θ)`` (or the model's other likelihood) at the source cell's posterior
    mean ``z`` with its library ``ℓ`` (or the library decoded from ``z``, for a model built with
    ``decode_library=True``), log-normalised like the real cells.
    """
    mean, variance = model.get_latent_representation(return_dist=True)
    codes = mean[data.source_cells]
    library = None  # "normal", or a decoder with decode_library=True: its codes' own
    if "counts" in data.adata.layers and model._takes_observed_library:
        counts = data.adata.layers["counts"][data.source_cells]
        library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        library = np.maximum(library, 1.0)
    cells = model.generate(codes=codes, library_size=library, seed=settings.seed)
    return MethodOutput(mean, variance, np.asarray(cells.X, dtype=np.float32), codes)


def ppca(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Probabilistic PCA on the log-normalised cells; generation from its Gaussian model."""
    from ..baselines import PPCA

    model = PPCA(n_components=settings.n_latent, seed=settings.seed).fit(data.log_expression)
    mean, variance = model.transform(data.log_expression, return_var=True)
    rng = np.random.default_rng(settings.seed)
    codes = rng.standard_normal((len(data.source_cells), settings.n_latent))
    noise = np.sqrt(model.noise_variance_) * rng.standard_normal(
        (len(codes), data.log_expression.shape[1])
    )
    generated = np.clip(model.inverse_transform(codes) + noise, 0.0, None).astype(np.float32)
    return MethodOutput(mean, variance, generated, codes)


def vae(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Plain VAE: ``alpha = beta = gamma = 1``."""
    model = _train_vae(data, settings, alpha=1.0, beta=1.0, gamma=1.0)
    return _decoder_cells(model, data, settings)


def beta_vae(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """β-VAE: every KL term weighted by ``settings.beta``."""
    b = settings.beta
    model = _train_vae(data, settings, alpha=b, beta=b, gamma=b)
    return _decoder_cells(model, data, settings)


def beta_tcvae(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """β-TCVAE: total correlation weighted by ``settings.beta`` (reused by MichiGAN)."""
    model = _tcvae_model(data, settings)
    return _decoder_cells(model, data, settings)


def _tcvae_model(data: BenchmarkData, settings: BenchmarkSettings):
    if "beta-TCVAE" not in data.cache:
        data.cache["beta-TCVAE"] = _train_vae(data, settings, alpha=1.0, beta=settings.beta)
    return data.cache["beta-TCVAE"]


def gmm(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Gaussian mixture on 50 principal components (generation only)."""
    from ..baselines import GaussianMixtureGenerator

    n_pcs = min(50, data.log_expression.shape[1] - 1, data.log_expression.shape[0] - 1)
    model = GaussianMixtureGenerator(
        n_pcs=n_pcs, n_components=GMM_COMPONENTS, seed=settings.seed
    ).fit(data.log_expression)
    generated = model.sample(len(data.source_cells), seed=settings.seed, clip_negative=True)
    return MethodOutput(generated=generated.astype(np.float32))


def _train_gan(model, settings: BenchmarkSettings) -> None:
    _quiet_train(model, max_epochs=settings.max_epochs_gan, accelerator=settings.accelerator)


def wgan_gp(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Unconditional WGAN-GP; its noise vectors are the codes of its generated cells."""
    from ..model import WGANGP, noise_blocks

    scvi.settings.seed = settings.seed
    WGANGP.setup_anndata(data.adata, layer="counts")
    model = WGANGP(data.adata, **settings.gan_kwargs)
    _train_gan(model, settings)
    n_cells = len(data.source_cells)
    generated = model.generate(n_samples=n_cells, seed=settings.seed).X
    noise = torch.cat(list(noise_blocks(model.module, n_cells, settings.seed)))
    return MethodOutput(generated=generated, generated_codes=noise.numpy())


def _infowgan(data: BenchmarkData, settings: BenchmarkSettings, supervised: bool):
    from ..model import InfoWGANGP

    scvi.settings.seed = settings.seed
    InfoWGANGP.setup_anndata(data.adata, layer="counts")
    factors = list(data.factors)[: settings.n_latent] if supervised else None
    model = InfoWGANGP(
        data.adata,
        n_code=settings.n_latent,
        supervised_factors=factors,
        seed=settings.seed,
        **settings.gan_kwargs,
    )
    _train_gan(model, settings)
    cells = model.generate(n_samples=len(data.source_cells), seed=settings.seed)
    return MethodOutput(
        codes=model.get_latent_representation(),
        generated=np.asarray(cells.X),
        generated_codes=cells.obsm["X_michigan"],
    )


def infowgan_gp(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """InfoWGAN-GP: codes of real cells from its Q-head, generation from prior codes."""
    return _infowgan(data, settings, supervised=False)


def ss_infowgan_gp(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """Semi-supervised InfoWGAN-GP: Q also regressed on the factors of 10 % of the cells."""
    return _infowgan(data, settings, supervised=True)


def michigan(data: BenchmarkData, settings: BenchmarkSettings) -> MethodOutput:
    """MichiGAN on the β-TCVAE's codes (posterior means), generating from the source cells."""
    from ..model import MichiGAN

    tcvae = _tcvae_model(data, settings)
    scvi.settings.seed = settings.seed
    MichiGAN.setup_anndata(data.adata, layer="counts")
    model = MichiGAN(data.adata, representation=tcvae, **settings.gan_kwargs)
    _train_gan(model, settings)
    codes = model.get_latent_representation()[data.source_cells]
    cells = model.generate(codes=codes, seed=settings.seed)
    return MethodOutput(generated=np.asarray(cells.X), generated_codes=codes)


#: The benchmark's methods, in the order of its tables.
METHODS: dict[str, Callable[[BenchmarkData, BenchmarkSettings], MethodOutput]] = {
    "PPCA": ppca,
    "VAE": vae,
    "beta-VAE": beta_vae,
    "beta-TCVAE": beta_tcvae,
    "GMM": gmm,
    "WGAN-GP": wgan_gp,
    "InfoWGAN-GP": infowgan_gp,
    "ss-InfoWGAN-GP": ss_infowgan_gp,
    "MichiGAN": michigan,
}
