"""The β-TCVAE module: encoder, decoder and the decomposed-KL objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS
from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import nn
from torch.distributions import Distribution, Normal, Poisson
from torch.distributions import kl_divergence as kl

from .._validation import check_choice
from ._mlp import MLP
from ._tc import TC_ESTIMATORS, KLDecomposition, TcEstimator, decompose_kl

#: The β-TCVAE's reconstruction likelihoods, as a type.
GeneLikelihood = Literal["nb", "zinb", "poisson", "normal"]
#: The β-TCVAE's reconstruction likelihoods (``gene_likelihood``).
GENE_LIKELIHOODS = ("nb", "zinb", "poisson", "normal")
#: The likelihoods of :data:`GENE_LIKELIHOODS` that need integer counts.
COUNT_LIKELIHOODS = ("nb", "zinb", "poisson")

#: How the β-TCVAE's KL term is estimated (``kl_estimator``).
KL_ESTIMATORS = ("monte_carlo", "analytic")
#: The estimators of :data:`KL_ESTIMATORS`, as a type.
KlEstimator = Literal["monte_carlo", "analytic"]

#: Added to the posterior variance for numerical stability (as scvi-tools' encoders do).
VARIANCE_EPS = 1e-4


class TCVAEModule(BaseModuleClass):
    """β-TCVAE of Chen et al. (2018) for single-cell expression, as in MichiGAN.

    The encoder maps a cell to a diagonal Gaussian posterior ``q(z | x)``; the decoder maps a
    code (and the batch, when there is more than one) to the parameters of the gene
    likelihood. The KL term of the ELBO is split into index-code mutual information, total
    correlation and dimension-wise KL (:func:`~michigan.module.decompose_kl`), weighted by
    ``alpha``, ``beta`` and ``gamma``.

    Parameters
    ----------
    n_input
        Number of genes.
    n_batch
        Number of batches; with more than one, the batch is given to the decoder (and to the
        encoder when ``encode_covariates``).
    n_latent
        Dimension of the code.
    n_hidden
        Widths of the encoder's hidden layers; the decoder mirrors them. The paper uses
        ``(512, 256)``.
    dropout_rate
        Dropout after every hidden layer.
    negative_slope
        Slope of the LeakyReLU activations.
    use_batch_norm
        Batch norm in the hidden layers (the paper's choice); otherwise no normalisation.
    gene_likelihood
        ``"nb"`` (negative binomial on counts with the observed library size, as scVI),
        ``"zinb"``, ``"poisson"``, or ``"normal"`` (a Gaussian with a learned variance per
        gene, for processed data such as log-normalised expression).
    alpha, beta, gamma
        Weights of the mutual information, total correlation and dimension-wise KL.
        ``alpha = beta = gamma = 1`` is the plain VAE; ``beta`` alone above 1 is the β-TCVAE.
    tc_estimator
        ``"mss"`` (minibatch stratified sampling, the default) or ``"mws"``.
    kl_estimator
        ``"monte_carlo"`` (the paper's code): the weighted sum of the three terms of
        :func:`~michigan.module.decompose_kl`, all from one posterior sample per cell.
        ``"analytic"``: the closed-form ``KL(q(z|x) ‖ p(z))`` plus ``(alpha − 1)·MI +
        (beta − 1)·TC + (gamma − 1)·dimKL`` from that sample (with ``alpha = gamma = 1`` only
        the TC is sampled). The same objective in expectation; the second has less noise.
    encode_covariates
        Also give the batch to the encoder.
    log_variational
        Encode ``log1p`` of the counts (count likelihoods only).
    decode_library
        Count likelihoods only. ``False`` (as scVI): the decoded gene proportions are scaled
        by each cell's observed library size, so no latent needs to carry it. ``True``: the
        decoder also predicts the log library size from the code (as the paper's decoder, which
        had no library input), so library size must be encoded in the latents.
    library_log_mean
        With ``decode_library``, the starting value of the predicted log library size (the
        mean log library of the training cells, set by the model).
    """

    def __init__(
        self,
        n_input: int,
        n_batch: int = 0,
        n_latent: int = 10,
        n_hidden: Sequence[int] = (512, 256),
        dropout_rate: float = 0.2,
        negative_slope: float = 0.2,
        use_batch_norm: bool = True,
        gene_likelihood: GeneLikelihood = "nb",
        alpha: float = 1.0,
        beta: float = 10.0,
        gamma: float = 1.0,
        tc_estimator: TcEstimator = "mss",
        kl_estimator: KlEstimator = "monte_carlo",
        encode_covariates: bool = False,
        log_variational: bool = True,
        decode_library: bool = False,
        library_log_mean: float = 0.0,
    ):
        super().__init__()
        check_choice(gene_likelihood, "gene_likelihood", GENE_LIKELIHOODS)
        check_choice(tc_estimator, "tc_estimator", TC_ESTIMATORS)
        check_choice(kl_estimator, "kl_estimator", KL_ESTIMATORS)
        if decode_library and gene_likelihood not in COUNT_LIKELIHOODS:
            raise ValueError(
                f"decode_library needs a count likelihood, not gene_likelihood={gene_likelihood!r}"
            )
        self.n_input = n_input
        self.n_batch = n_batch
        self.n_latent = n_latent
        self.gene_likelihood = gene_likelihood
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.tc_estimator = tc_estimator
        self.kl_estimator = kl_estimator
        self.encode_covariates = encode_covariates
        self.log_variational = log_variational and gene_likelihood in COUNT_LIKELIHOODS
        self.n_covariates = n_batch if n_batch > 1 else 0
        self.decode_library = decode_library

        normalization = "batch" if use_batch_norm else "none"
        mlp_kwargs = {
            "dropout_rate": dropout_rate,
            "normalization": normalization,
            "negative_slope": negative_slope,
        }
        n_encoder_covariates = self.n_covariates if encode_covariates else 0
        self.encoder = MLP(n_input + n_encoder_covariates, n_hidden, **mlp_kwargs)
        self.z_mean = nn.Linear(self.encoder.n_output, n_latent)
        self.z_log_var = nn.Linear(self.encoder.n_output, n_latent)

        self.decoder = MLP(n_latent + self.n_covariates, tuple(reversed(n_hidden)), **mlp_kwargs)
        self.px_head = nn.Linear(self.decoder.n_output, n_input)
        if self.decode_library:
            self.library_head = nn.Linear(self.decoder.n_output, 1)
            nn.init.zeros_(self.library_head.weight)
            nn.init.constant_(self.library_head.bias, library_log_mean)
        if gene_likelihood == "zinb":
            self.px_dropout_head = nn.Linear(self.decoder.n_output, n_input)
        if gene_likelihood in ("nb", "zinb"):
            self.px_log_theta = nn.Parameter(torch.randn(n_input))
        if gene_likelihood == "normal":
            self.px_log_scale = nn.Parameter(torch.zeros(n_input))

    def _with_covariates(self, h: torch.Tensor, batch_index: torch.Tensor | None) -> torch.Tensor:
        if self.n_covariates == 0 or batch_index is None:
            return h
        one_hot = F.one_hot(batch_index.reshape(-1).long(), self.n_covariates).to(h.dtype)
        return torch.cat([h, one_hot], dim=-1)

    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "x": tensors[REGISTRY_KEYS.X_KEY],
            "batch_index": tensors.get(REGISTRY_KEYS.BATCH_KEY),
        }

    def _get_generative_input(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict[str, torch.Tensor | Distribution],
    ) -> dict[str, torch.Tensor]:
        return {
            "z": inference_outputs["z"],
            "library": inference_outputs["library"],
            "batch_index": tensors.get(REGISTRY_KEYS.BATCH_KEY),
        }

    @auto_move_data
    def inference(
        self,
        x: torch.Tensor,
        batch_index: torch.Tensor | None = None,
        n_samples: int = 1,
    ) -> dict[str, torch.Tensor | Distribution]:
        """Posterior ``q(z | x)``, one sample of it, and the log library size."""
        library = torch.log(x.sum(-1, keepdim=True).clamp_min(1.0))
        x_encoded = torch.log1p(x) if self.log_variational else x
        if self.encode_covariates:
            x_encoded = self._with_covariates(x_encoded, batch_index)
        hidden = self.encoder(x_encoded)
        variance = torch.exp(self.z_log_var(hidden)) + VARIANCE_EPS
        qz = Normal(self.z_mean(hidden), variance.sqrt())
        z = qz.rsample() if n_samples == 1 else qz.rsample((n_samples,))
        return {"qz": qz, "z": z, "library": library}

    @auto_move_data
    def generative(
        self,
        z: torch.Tensor,
        library: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> dict[str, Distribution]:
        """Likelihood ``p(x | z)`` of the genes, and the prior ``p(z)``."""
        hidden = self.decoder(self._with_covariates(z, batch_index))
        px_output = self.px_head(hidden)
        if self.gene_likelihood == "normal":
            px = Normal(px_output, torch.exp(self.px_log_scale))
        else:
            px_scale = torch.softmax(px_output, dim=-1)
            if self.decode_library:
                library = self.library_head(hidden)
            px_rate = torch.exp(library) * px_scale
            if self.gene_likelihood == "poisson":
                px = Poisson(px_rate)
            elif self.gene_likelihood == "nb":
                px = NegativeBinomial(
                    mu=px_rate, theta=torch.exp(self.px_log_theta), scale=px_scale
                )
            else:
                px = ZeroInflatedNegativeBinomial(
                    mu=px_rate,
                    theta=torch.exp(self.px_log_theta),
                    zi_logits=self.px_dropout_head(hidden),
                    scale=px_scale,
                )
        pz = Normal(torch.zeros_like(z), torch.ones_like(z))
        return {"px": px, "pz": pz}

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict[str, torch.Tensor | Distribution],
        generative_outputs: dict[str, Distribution],
        kl_weight: float = 1.0,
        n_obs: int | None = None,
    ) -> LossOutput:
        """Negative ELBO with the KL split into weighted MI, TC and dimension-wise KL.

        Parameters
        ----------
        tensors
            The minibatch.
        inference_outputs, generative_outputs
            Outputs of :meth:`inference` and :meth:`generative`.
        kl_weight
            Warm-up factor on all three KL terms (set by the training plan).
        n_obs
            Number of cells in the training set (set by the training plan); defaults to the
            minibatch size.
        """
        x = tensors[REGISTRY_KEYS.X_KEY]
        reconstruction_loss = -generative_outputs["px"].log_prob(x).sum(-1)
        z, qz = inference_outputs["z"], inference_outputs["qz"]
        terms = decompose_kl(z, qz, n_obs or x.shape[0], self.tc_estimator)
        weights = (self.alpha, self.beta, self.gamma)
        if self.kl_estimator == "analytic":
            # the closed form carries a weight of 1 on each term; the excess is sampled
            prior = Normal(torch.zeros_like(z), torch.ones_like(z))
            kl_divergence = kl(qz, prior).sum(-1)
            weighted_kl = kl_divergence + _weighted_sum(terms, [w - 1.0 for w in weights])
        else:
            kl_divergence = terms.mutual_info + terms.total_correlation + terms.dimension_wise_kl
            weighted_kl = _weighted_sum(terms, weights)
        loss = torch.mean(reconstruction_loss + kl_weight * weighted_kl)
        return LossOutput(
            loss=loss,
            reconstruction_loss=reconstruction_loss,
            kl_local={"kl_divergence_z": kl_divergence},
            extra_metrics={
                "mutual_info": terms.mutual_info.mean().detach(),
                "total_correlation": terms.total_correlation.mean().detach(),
                "dimension_wise_kl": terms.dimension_wise_kl.mean().detach(),
            },
        )

    @torch.inference_mode()
    def decode(
        self,
        z: torch.Tensor,
        batch_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Expected expression of codes: gene proportions for count likelihoods, else means."""
        hidden = self.decoder(self._with_covariates(z, batch_index))
        output = self.px_head(hidden)
        if self.gene_likelihood == "normal":
            return output
        return torch.softmax(output, dim=-1)


def _weighted_sum(terms: KLDecomposition, weights: Sequence[float]) -> torch.Tensor:
    """``w_MI · MI + w_TC · TC + w_dimKL · dimKL``, per cell."""
    return (
        weights[0] * terms.mutual_info
        + weights[1] * terms.total_correlation
        + weights[2] * terms.dimension_wise_kl
    )
