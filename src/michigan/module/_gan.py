"""The conditional Wasserstein GAN as one module: its networks, its data and its losses."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal, NamedTuple

import torch
from scvi import REGISTRY_KEYS
from torch import nn

from .._normalize import TARGET_SUM, log_normalize
from ._count_head import COUNT_HEAD_LIKELIHOODS, CountHead, CountHeadLikelihood
from ._gan_networks import (
    CONDITIONAL_N_FEATURES,
    CRITIC_DROPOUT_RATE,
    CRITIC_HIDDEN,
    CRITIC_INPUT_DROPOUT_RATE,
    GENERATOR_HIDDEN,
    N_FEATURES,
    OUTPUT_HEADS,
    PAPER_CRITIC_HIDDEN,
    ExpressionHead,
    Generator,
    LibrarySizeHead,
    OutputActivation,
    OutputHead,
    Projection,
    ProjectionCritic,
    gradient_penalty,
)
from ._mlp import Normalization

#: Network options of the paper (``MichiGAN(adata, **PAPER_NETWORKS)``): the generator with
#: batch norm and dropout 0.2 on its hidden layers and a ReLU output, the critic's widths
#: ``(1024, 512)`` without dropout, on every gene.
PAPER_NETWORKS = MappingProxyType(
    {
        "critic_hidden": PAPER_CRITIC_HIDDEN,
        "critic_dropout_rate": 0.0,
        "critic_input_dropout_rate": 0.0,
        "n_features": N_FEATURES,
        "generator_normalization": "batch",
        "dropout_rate": 0.2,
        "output_head": "expression",
        "output_activation": "relu",
    }
)

#: The code sources of :data:`CODE_SOURCES`, as a type.
CodeSource = Literal["mean", "sample"]
#: How a cell's code is read from its posterior: its mean, or a fresh draw every minibatch.
CODE_SOURCES = ("mean", "sample")


class _GANKeys(NamedTuple):
    EXPRESSION: str = "gan_expression"
    CODE_LOC: str = "code_loc"
    CODE_SCALE: str = "code_scale"
    INFO_TARGET: str = "info_target"
    INFO_MASK: str = "info_mask"


#: Keys of the per-cell tensors the GANs read from a minibatch, besides scvi's ``"X"``: a
#: processed expression matrix, the codes' posterior means and SDs, and InfoGAN's supervised
#: targets and their mask.
GAN_KEYS = _GANKeys()


class CriticLoss(NamedTuple):
    """The critic's loss on a minibatch and the terms it is made of.

    Attributes
    ----------
    loss
        The loss the critic minimises.
    wasserstein
        The estimate ``E[D(x, z)] − E[D(G(z, n), z)]``.
    penalty
        The gradient penalty (unweighted).
    extra
        Further terms a module adds (e.g. InfoGAN's ``info_loss``), logged by the plan.
    """

    loss: torch.Tensor
    wasserstein: torch.Tensor
    penalty: torch.Tensor
    extra: dict[str, torch.Tensor] = {}  # noqa: RUF012 - never mutated

    def terms(self) -> dict[str, torch.Tensor]:
        """Every term by the name the plan logs it under (``<name>_train``)."""
        return {
            "critic_loss": self.loss,
            "wasserstein": self.wasserstein,
            "gradient_penalty": self.penalty,
            **self.extra,
        }


class GANModule(nn.Module):
    """Generator and critic of a (conditional) Wasserstein GAN, the data they learn, the losses.

    The module turns a minibatch into the pair ``(x, z)`` the GAN trains on
    (:meth:`get_data_and_code`): ``x`` is the registered matrix, log-normalised per minibatch
    (``log1p(target_sum · x / Σx)``) when ``log_normalize``, or a processed matrix served under
    ``GAN_KEYS.EXPRESSION``; ``z`` is the posterior mean of each cell, or a fresh draw
    ``μ + σ·ε`` from its (frozen) posterior when ``code_source="sample"``.

    It owns the WGAN-GP losses (:meth:`critic_loss`, with the gradient penalty, and
    :meth:`generator_loss`), as scvi-tools modules own ``loss()``; the training plan
    (:class:`~michigan.train.WGANTrainingPlan`) decides when each is minimised.

    Parameters
    ----------
    n_genes
        Number of genes.
    n_code
        Width of the code (0 for the unconditional WGAN-GP).
    n_noise
        Width of the noise.
    code_source
        ``"mean"`` or ``"sample"`` (see above).
    log_normalize
        Log-normalise the minibatch (counts in) before the networks see it.
    target_sum
        Total per cell after normalisation (1e4, as ``sc.pp.normalize_total``).
    expression_key
        Minibatch key of the matrix the GAN learns (``"X"`` or ``GAN_KEYS.EXPRESSION``).
    generator_hidden, critic_hidden, n_features, projection
        See :class:`~michigan.module.Generator` and :class:`~michigan.module.ProjectionCritic`.
    generator_normalization
        Normalisation of the generator's hidden layers: ``"layer"`` (default), ``"none"`` or
        the paper's ``"batch"``.
    dropout_rate
        Dropout of the generator's hidden layers (0; 0.2 in the paper).
    critic_dropout_rate
        Dropout of the critic's hidden layers (:data:`~michigan.module.CRITIC_DROPOUT_RATE`:
        none, as in the paper).
    critic_input_dropout_rate
        Dropout of the genes the critic sees
        (:data:`~michigan.module.CRITIC_INPUT_DROPOUT_RATE`, 0.2; none in the paper): each
        cell, real or generated, reaches the critic with a random share of its genes zeroed,
        so the critic cannot key on single genes of single training cells.
    critic_normalization
        ``"layer"`` (default), ``"none"`` (the measured reference configuration's), or
        the paper's ``"batch"`` (with a warning: it breaks the per-sample gradient penalty).
    negative_slope
        Slope of every LeakyReLU.
    output_head
        ``"counts"``: a :class:`~michigan.module.CountHead` (the generator gives each cell's
        expected profile; its counts are drawn from ``count_likelihood`` at the library size
        of a real cell and log-normalised, as real cells are; needs ``log_normalize``);
        ``"library_size"``: a :class:`~michigan.module.LibrarySizeHead` (every generated cell
        has the library ``target_sum`` before ``log1p``; for log-normalised expression);
        ``"expression"``: an :class:`~michigan.module.ExpressionHead` with
        ``output_activation`` (for processed layers, e.g. with negative values). ``None``
        picks ``"counts"`` when ``log_normalize``, else ``"expression"``.
    output_activation
        See :class:`~michigan.module.ExpressionHead` (``output_head="expression"`` only).
    count_likelihood
        ``"nb"`` (negative binomial with a per-gene dispersion learned with the generator) or
        ``"poisson"`` (``output_head="counts"`` only).
    count_dispersion
        The dispersion every gene's negative binomial starts at (:meth:`start_dispersion`
        sets one per gene).

    Notes
    -----
    The module also holds ``generator_average``, an exponential moving average of the
    generator's weights that the training plan updates after every generator step
    (:meth:`update_generator_average`, when its ``ema_decay`` is set). :meth:`generate`
    uses it once it has been updated (``average_steps > 0``), the live generator otherwise;
    it is saved and checkpointed with the module.

    Examples
    --------
    >>> module = GANModule(n_genes=100, n_code=10, n_noise=118)
    >>> module.generate(torch.randn(4, 10), module.sample_noise(4)).shape
    torch.Size([4, 100])
    """

    def __init__(
        self,
        n_genes: int,
        n_code: int = 0,
        n_noise: int = 128,
        code_source: CodeSource = "mean",
        log_normalize: bool = True,
        target_sum: float = TARGET_SUM,
        expression_key: str = REGISTRY_KEYS.X_KEY,
        generator_hidden: Sequence[int] = GENERATOR_HIDDEN,
        critic_hidden: Sequence[int] = CRITIC_HIDDEN,
        n_features: int | None = None,
        projection: Projection = "learned",
        critic_normalization: Normalization = "layer",
        generator_normalization: Normalization = "layer",
        dropout_rate: float = 0.0,
        critic_dropout_rate: float = CRITIC_DROPOUT_RATE,
        critic_input_dropout_rate: float = CRITIC_INPUT_DROPOUT_RATE,
        negative_slope: float = 0.2,
        output_head: OutputHead | None = None,
        output_activation: OutputActivation = "relu",
        count_likelihood: CountHeadLikelihood = "nb",
        count_dispersion: float = 10.0,
    ):
        super().__init__()
        if code_source not in CODE_SOURCES:
            raise ValueError(
                f"unknown code_source {code_source!r}; choose one of {', '.join(CODE_SOURCES)}"
            )
        self.n_genes, self.n_code, self.n_noise = n_genes, n_code, n_noise
        self.code_source = code_source
        self.log_normalize = log_normalize
        self.target_sum = target_sum
        self.expression_key = expression_key
        if output_head is None:
            output_head = "counts" if log_normalize else "expression"
        if output_head not in OUTPUT_HEADS:
            raise ValueError(
                f"unknown output_head {output_head!r}; choose one of {', '.join(OUTPUT_HEADS)}"
            )
        if output_head == "counts" and not log_normalize:
            raise ValueError(
                "output_head='counts' draws counts and log-normalises them, so it learns "
                "counts: keep log_normalize=True, or pick output_head='expression'"
            )
        if count_likelihood not in COUNT_HEAD_LIKELIHOODS:
            raise ValueError(
                f"unknown count_likelihood {count_likelihood!r}; choose one of "
                f"{', '.join(COUNT_HEAD_LIKELIHOODS)}"
            )
        self.output_head = output_head
        self.count_likelihood = count_likelihood
        last_hidden = tuple(generator_hidden)[-1] if len(generator_hidden) else n_code + n_noise
        heads = {
            "counts": lambda: CountHead(
                last_hidden, n_genes, target_sum, count_likelihood, count_dispersion
            ),
            "library_size": lambda: LibrarySizeHead(last_hidden, n_genes, target_sum),
            "expression": lambda: ExpressionHead(last_hidden, n_genes, output_activation),
        }
        head = heads[output_head]()
        self.generator = Generator(
            n_code,
            n_noise,
            n_genes,
            n_hidden=generator_hidden,
            dropout_rate=dropout_rate,
            normalization=generator_normalization,
            negative_slope=negative_slope,
            head=head,
        )
        self.generator_average = copy.deepcopy(self.generator).requires_grad_(False)
        self.register_buffer("average_steps", torch.zeros((), dtype=torch.long))
        self.critic = ProjectionCritic(
            n_genes,
            n_code,
            n_hidden=critic_hidden,
            n_features=n_features,
            projection=projection,
            normalization=critic_normalization,
            dropout_rate=critic_dropout_rate,
            input_dropout_rate=critic_input_dropout_rate,
            negative_slope=negative_slope,
        )

    @property
    def device(self) -> torch.device:
        """The device of the parameters."""
        return next(self.parameters()).device

    def on_load(self, model, **kwargs) -> None:
        """Called by :meth:`scvi.model.base.BaseModelClass.load`; nothing to do."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``log1p(target_sum · x / Σx)`` per cell when ``log_normalize``, else ``x``."""
        return log_normalize(x, self.target_sum) if self.log_normalize else x

    def get_data_and_code(
        self, tensors: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The expression the GAN learns and the codes that condition it, for a minibatch."""
        x = self.normalize(tensors[self.expression_key])
        if self.n_code == 0:
            return x, None
        code = tensors[GAN_KEYS.CODE_LOC]
        if self.code_source == "sample":
            code = code + tensors[GAN_KEYS.CODE_SCALE] * torch.randn_like(code)
        return x, code

    @property
    def draws_counts(self) -> bool:
        """Whether the generator draws counts (``output_head="counts"``)."""
        return self.output_head == "counts"

    def get_library(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Library sizes of the minibatch's real cells, for a generator that draws counts.

        A generated cell takes the library of the real cell whose code it is given (the codes
        of a β-TCVAE whose decoder sees the observed library do not hold it). ``None`` for the
        other heads.
        """
        if not self.draws_counts:
            return None
        return tensors[self.expression_key].sum(-1)

    def get_loss_targets(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Further minibatch tensors the losses need, as keyword arguments (none here)."""
        return {}

    def sample_noise(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Standard normal noise of shape ``(n, n_noise)``."""
        if generator is not None:
            noise = torch.randn(n, self.n_noise, generator=generator, device=generator.device)
            return noise.to(device or self.device)
        return torch.randn(n, self.n_noise, device=device or self.device)

    def sample_fake(
        self, code: torch.Tensor | None, n: int, library: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Generated cells ``G(z, n)`` for codes (or ``n`` unconditional cells), fresh noise.

        ``library`` (see :meth:`get_library`) makes a generator that draws counts draw them.
        """
        return self.generator(code, self.sample_noise(n), library)

    @property
    def sampling_generator(self) -> Generator:
        """What :meth:`generate` uses: the moving average once updated, else the live generator."""
        return self.generator_average if int(self.average_steps) > 0 else self.generator

    def generate(
        self,
        code: torch.Tensor | None,
        noise: torch.Tensor,
        library: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generated expression for codes and noise (by :attr:`sampling_generator`).

        For a generator that draws counts: the expected profiles without ``library``, cells
        drawn at those library sizes with it.
        """
        return self.sampling_generator(code, noise, library)

    @property
    def dispersion(self) -> torch.Tensor | None:
        """Per-gene dispersion of the sampling generator's negative binomial, else ``None``."""
        head = self.sampling_generator.head
        return head.dispersion if isinstance(head, CountHead) else None

    @torch.no_grad()
    def start_dispersion(self, dispersion: torch.Tensor) -> None:
        """Set the per-gene dispersion of both generators' negative binomial (before training).

        Raises
        ------
        ValueError
            Without a negative-binomial count head, or with one value per gene missing.
        """
        heads = [self.generator.head, self.generator_average.head]
        if not isinstance(heads[0], CountHead) or heads[0].likelihood != "nb":
            raise ValueError(
                "only a generator with a negative-binomial count head has a dispersion "
                "(output_head='counts', count_likelihood='nb')"
            )
        dispersion = torch.as_tensor(dispersion, dtype=torch.float32)
        if dispersion.shape != (self.n_genes,) or not bool((dispersion > 0).all()):
            raise ValueError(
                f"pass one positive dispersion per gene ({self.n_genes}), got shape "
                f"{tuple(dispersion.shape)}"
            )
        for head in heads:
            head.log_dispersion.copy_(dispersion.log().to(head.log_dispersion.device))

    @torch.no_grad()
    def update_generator_average(self, decay: float) -> float:
        """One step of the moving average of the generator's weights; returns the decay used.

        ``θ̄ ← d·θ̄ + (1 − d)·θ`` with ``d = min(decay, t / (t + 9))``, ``t`` the number of
        updates so far (``average_steps``): the first update copies the live weights
        (``d = 0``) and the warm-up keeps early averages from holding on to old weights.
        Buffers (batch-norm statistics) are copied.

        Parameters
        ----------
        decay
            The decay ``d`` once warmed up, in ``[0, 1)`` (e.g. 0.99).
        """
        steps = int(self.average_steps)
        used = min(float(decay), steps / (steps + 9))
        if used <= 0:
            self.generator_average.load_state_dict(self.generator.state_dict())
        else:
            for averaged, live in zip(
                self.generator_average.parameters(), self.generator.parameters(), strict=True
            ):
                averaged.lerp_(live, 1 - used)
            for averaged, live in zip(
                self.generator_average.buffers(), self.generator.buffers(), strict=True
            ):
                averaged.copy_(live)
        self.average_steps += 1
        return used

    def reset_generator_average(self) -> None:
        """Forget the moving average: :meth:`generate` uses the live generator again."""
        self.average_steps.zero_()

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """Load weights; a state saved without the moving average (by an earlier version) too."""
        if not any(key.startswith("generator_average.") for key in state_dict):
            state_dict = dict(state_dict)
            for key, value in list(state_dict.items()):
                if key.startswith("generator."):
                    state_dict["generator_average." + key.removeprefix("generator.")] = value
            state_dict.setdefault("average_steps", torch.zeros((), dtype=torch.long))
        self._check_critic_widths(state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _check_critic_widths(self, state_dict: Mapping) -> None:
        """A clear error for weights of a critic with other widths (an earlier default)."""
        own = {
            k: v.shape for k, v in self.critic.body.state_dict().items() if k.endswith("weight")
        }
        saved = {
            k.removeprefix("critic.body."): v.shape
            for k, v in state_dict.items()
            if k.startswith("critic.body.") and k.endswith("weight")
        }
        if saved and saved != own:
            raise ValueError(
                "the saved critic has other hidden layers than this model's (the default "
                f"critic changed during development: {PAPER_CRITIC_HIDDEN}, then (256, 128) "
                f"with critic_dropout_rate=0.3, now {CRITIC_HIDDEN} with "
                f"critic_input_dropout_rate={CRITIC_INPUT_DROPOUT_RATE}): retrain, or build the "
                "model with the saved model's critic_hidden and critic_dropout_rate (e.g. "
                "critic_hidden=(256, 128), critic_dropout_rate=0.3) and load the "
                "saved weights into it with "
                "model.module.load_state_dict(torch.load(path)['model_state_dict'])"
            )
        saved_features = state_dict.get("critic.features.0.weight")
        if saved_features is not None and saved_features.shape[0] != self.critic.n_features:
            raise ValueError(
                f"the saved critic has {saved_features.shape[0]} features h, this model's "
                f"{self.critic.n_features} (the default of a conditional critic changed from the "
                f"paper's {N_FEATURES} to {CONDITIONAL_N_FEATURES} during development): retrain, "
                f"or build the model with n_features={saved_features.shape[0]} and load the "
                "saved weights into it with "
                "model.module.load_state_dict(torch.load(path)['model_state_dict'])"
            )

    def critic_loss(
        self,
        x: torch.Tensor,
        fake: torch.Tensor,
        code: torch.Tensor | None,
        gp_lambda: float,
    ) -> CriticLoss:
        """``E[D(x̃, z)] − E[D(x, z)] + λ·E[(‖∇_x̂ D(x̂, z)‖₂ − 1)²]`` on a minibatch.

        Parameters
        ----------
        x
            Real cells (as :meth:`get_data_and_code` returns them).
        fake
            Generated cells for the same codes (no gradient to the generator needed).
        code
            The codes of the cells, or ``None`` (unconditional).
        gp_lambda
            Weight ``λ`` of the gradient penalty.
        """
        critic = self.critic
        if critic.per_sample:
            both_codes = None if code is None else torch.cat([code, code])
            real_score, fake_score = critic(torch.cat([x, fake]), both_codes).chunk(2)
        else:
            real_score, fake_score = critic(x, code), critic(fake, code)
        wasserstein = real_score.mean() - fake_score.mean()
        penalty = gradient_penalty(critic, x, fake, code)
        return CriticLoss(gp_lambda * penalty - wasserstein, wasserstein, penalty)

    def generator_loss(
        self, code: torch.Tensor | None, n: int, library: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``−E[D(G(z, n), z)]`` for codes (or ``n`` cells when unconditional), fresh noise."""
        return -self.critic(self.sample_fake(code, n, library), code).mean()
