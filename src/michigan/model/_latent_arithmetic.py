"""``predict`` for models: latent-space arithmetic, then the model's decoder or generator.

:class:`LatentArithmeticMixin` checks a request, asks the model for the codes of the cells
involved, applies :func:`michigan.tl.latent_arithmetic` and turns the
predicted codes into an AnnData of log-normalised expression with its provenance.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._normalize import TARGET_SUM
from .._validation import check_choice, check_positive_int, validate_obs_keys
from ..module import CODE_SOURCES, CodeSource
from ..tl import (
    PREDICTED_CODES_KEY,
    PREDICTION_UNS_KEY,
    ArithmeticPlan,
    LatentArithmetic,
    apply_plan,
    plan_arithmetic,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


Arithmetic = Literal["cell_type", "perturbation"]
ARITHMETICS = ("cell_type", "perturbation")


@contextmanager
def _torch_seed(seed: int | None) -> Iterator[None]:
    """Seed torch inside the block only, leaving the global generators as they were."""
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class LatentArithmeticMixin:
    """Adds :meth:`predict` (latent-space arithmetic) to a model.

    A model provides two hooks: ``_arithmetic_codes(adata, indices, give_mean, seed)``, the
    codes of some cells, and ``_arithmetic_expression(codes, adata, source, seed, expression)``,
    the log-normalised expression of codes (``source`` are the rows of the cells they were
    shifted from, e.g. for their batch), and lists in ``_prediction_expressions`` the kinds of
    expression it makes (``"sample"``: cells; ``"mean"``: expected expression), its default
    first.
    """

    _prediction_expressions: tuple[str, ...] = ("sample",)

    def _arithmetic_codes(
        self, adata: AnnData, indices: np.ndarray, give_mean: bool, seed: int | None
    ) -> np.ndarray:
        raise NotImplementedError

    def _arithmetic_expression(
        self,
        codes: np.ndarray,
        adata: AnnData,
        source: np.ndarray,
        seed: int | None,
        expression: str,
    ) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self,
        adata: AnnData | None = None,
        *,
        cell_type_key: str,
        perturbation_key: str,
        target: tuple[Hashable, Hashable],
        arithmetic: Arithmetic = "perturbation",
        control_perturbation: Hashable | None = None,
        control_cell_type: Hashable | None = None,
        code_source: CodeSource = "sample",
        expression: str | None = None,
        n_cells: int | None = None,
        n_samples: int = 1,
        seed: int | None = None,
        balance: bool = True,
    ) -> AnnData:
        """Predict cells of an unseen (cell type, perturbation) combination.

        Latent-space arithmetic (:func:`michigan.tl.latent_arithmetic`), then the model turns
        the shifted codes into expression. By default (``arithmetic="perturbation"``, scGen's
        form) the target cell type's own cells under a control perturbation are shifted by
        ``Δ``, the mean latent difference between the target perturbation and the control
        perturbation over the *other* cell types seen with both (each cell type weighted
        equally, its two groups resampled to equal sizes). No cell of the target cell type
        enters ``Δ``. ``adata`` is only read (an AnnData not yet registered with the model gets
        scvi-tools' usual registration first).

        Parameters
        ----------
        adata
            AnnData set up for the model, without the target combination; defaults to the
            training data.
        cell_type_key, perturbation_key
            Columns of ``adata.obs`` with the cell type and the perturbation of each cell.
        target
            ``(cell type, perturbation)`` to predict, e.g. ``("CD4T", "stimulated")``.
        arithmetic
            ``"perturbation"`` (scGen's, above) or ``"cell_type"`` (the MichiGAN paper's):
            ``Δ`` is the mean difference between the target cell type and a control cell type
            over the perturbations both were seen with, added to the control cell type's cells
            under the target perturbation.
        control_perturbation
            For ``arithmetic="perturbation"``: the perturbation whose cells of the target
            type are shifted. ``None`` picks the one with the most cells of the target type
            among those sharing a cell type with the target perturbation.
        control_cell_type
            For ``arithmetic="cell_type"``: the cell type whose cells under the target
            perturbation are shifted. ``None`` picks the one with the most cells under the
            target perturbation among those sharing another perturbation with the target.
        code_source
            ``"sample"``: one posterior sample per cell (the paper's better choice);
            ``"mean"``: posterior means.
        expression
            What the shifted codes become. ``"sample"``: cells (MichiGAN's generator output,
            with a count head drawn at the source cells' library sizes; for a VAE, counts
            drawn from its likelihood at the source cells' library sizes, then
            log-normalised, like real cells); ``"mean"`` (VAEs only): the decoder's
            expected expression. ``None``: the model's default (MichiGAN ``"sample"``, VAEs
            ``"mean"``).
        n_cells
            Cells to predict; ``None`` shifts each source cell once.
        n_samples
            Independent predictions (posterior samples of the codes, resampling of ``Δ``'s
            groups, generator noise) behind the per-gene uncertainty in ``.var``; the cells
            returned are the first prediction's, the same as with ``n_samples=1``.
        seed
            Seed of the resampling, the posterior samples and the generator's noise.
        balance
            Resample groups to equal sizes when estimating ``Δ``.

        Returns
        -------
        AnnData of predicted cells over ``adata``'s genes: log-normalised expression
        (``log1p`` at library size 1e4) in ``.X``; the target labels under
        ``cell_type_key`` and ``perturbation_key`` and the provenance (``prediction_control``,
        ``prediction_code_source``, ``prediction_method``, ``prediction_arithmetic``,
        ``source_cell``) in ``.obs``; the predicted codes in ``.obsm["X_predicted"]``;
        ``.var["predicted_mean"]``, each gene's predicted mean expression averaged over the
        ``n_samples`` predictions, and with ``n_samples ≥ 2`` ``.var["predicted_mean_sd"]``,
        its standard deviation over them; ``Δ``, the arithmetic, the source group
        ``(cell type, perturbation)`` and the source cells in ``.uns["prediction"]``.

        Examples
        --------
        >>> import michigan as mg
        >>> adata = mg.datasets.kang_pbmc("kang_pbmc_ifnb_scgen_valid.h5ad")  # doctest: +SKIP
        >>> target = ("CD4T", "stimulated")
        >>> train, held_out = mg.data.hold_out(
        ...     adata, "cell_type", "condition", [target]
        ... )  # doctest: +SKIP
        >>> mg.TCVAE.setup_anndata(train, layer="counts")  # doctest: +SKIP
        >>> model = mg.TCVAE(train)  # doctest: +SKIP
        >>> model.train()  # doctest: +SKIP
        >>> predicted = model.predict(
        ...     cell_type_key="cell_type", perturbation_key="condition", target=target
        ... )  # doctest: +SKIP
        >>> predicted.uns["prediction"]["source_group"]  # doctest: +SKIP
        ['CD4T', 'control']
        """
        adata = self.adata if adata is None else adata
        validate_obs_keys(adata, [cell_type_key, perturbation_key])
        check_choice(code_source, "code_source", CODE_SOURCES)
        check_choice(arithmetic, "arithmetic", ARITHMETICS)
        if n_cells is not None:
            check_positive_int(n_cells, "n_cells")
        check_positive_int(n_samples, "n_samples")
        expression = expression or self._prediction_expressions[0]
        check_choice(expression, "expression", self._prediction_expressions)
        plan, target_pair, source_group = _plan(
            adata.obs[cell_type_key].to_numpy(),
            adata.obs[perturbation_key].to_numpy(),
            target,
            arithmetic,
            control_cell_type=control_cell_type,
            control_perturbation=control_perturbation,
            names=(cell_type_key, perturbation_key),
        )
        adata = self._validate_anndata(adata)
        settings = (code_source, expression, n_cells, balance)
        result, values = self._predict_once(adata, plan, *settings, seed)
        gene_means = [values.mean(axis=0)]
        for draw_seed in _draw_seeds(seed, n_samples - 1):
            gene_means.append(
                self._predict_once(adata, plan, *settings, draw_seed)[1].mean(axis=0)
            )
        predicted = _prediction_anndata(
            adata,
            values,
            result,
            keys=(cell_type_key, perturbation_key),
            target=target_pair,
            provenance={
                "prediction_control": str(result.control),
                "prediction_code_source": code_source,
                "prediction_method": type(self).__name__.lower(),
                "prediction_arithmetic": arithmetic,
                "prediction_expression": expression,
            },
            seed=seed,
        )
        gene_means = np.asarray(gene_means, dtype=np.float64)
        predicted.var["predicted_mean"] = gene_means.mean(axis=0).astype(np.float32)
        if n_samples > 1:
            predicted.var["predicted_mean_sd"] = gene_means.std(axis=0, ddof=1).astype(np.float32)
        uns = predicted.uns[PREDICTION_UNS_KEY]
        uns["arithmetic"] = arithmetic
        uns["source_group"] = [str(label) for label in source_group]
        uns["source_cells"] = np.asarray(adata.obs_names[np.unique(result.source)], dtype=str)
        uns["n_samples"] = int(n_samples)
        return predicted

    def _predict_once(
        self,
        adata: AnnData,
        plan: ArithmeticPlan,
        code_source: CodeSource,
        expression: str,
        n_cells: int | None,
        balance: bool,
        seed: int | None,
    ) -> tuple[LatentArithmetic, np.ndarray]:
        """One prediction: codes of the plan's cells, the arithmetic, the expression."""
        rows = plan.rows
        latent = self._arithmetic_codes(adata, rows, code_source == "mean", seed)
        all_codes = np.full((adata.n_obs, latent.shape[1]), np.nan)
        all_codes[rows] = latent
        result = apply_plan(all_codes, plan, n_cells, balance, np.random.default_rng(seed))
        values = self._arithmetic_expression(result.codes, adata, result.source, seed, expression)
        return result, np.asarray(values)


def _plan(
    cell_types: np.ndarray,
    perturbations: np.ndarray,
    target: tuple[Hashable, Hashable],
    arithmetic: Arithmetic,
    *,
    control_cell_type: Hashable | None,
    control_perturbation: Hashable | None,
    names: tuple[str, str],
) -> tuple[ArithmeticPlan, tuple[Hashable, Hashable], tuple[Hashable, Hashable]]:
    """The checked plan, the target as (cell type, perturbation) and the shifted group."""
    if arithmetic == "cell_type":
        if control_perturbation is not None:
            raise ValueError(
                "control_perturbation applies to arithmetic='perturbation' (the default); "
                "with arithmetic='cell_type' pass control_cell_type instead"
            )
        plan = plan_arithmetic(cell_types, perturbations, target, control_cell_type, names=names)
        return plan, plan.target, (plan.control, plan.target[1])
    if control_cell_type is not None:
        raise ValueError(
            "control_cell_type applies to arithmetic='cell_type'; pass "
            "arithmetic='cell_type' with it, or control_perturbation with the default "
            "arithmetic='perturbation'"
        )
    if isinstance(target, str) or not isinstance(target, Sequence) or len(target) != 2:
        raise ValueError(
            f"target must be a (cell type, perturbation) pair, got {target!r}; "
            "e.g. target=('CD4T', 'stimulated')"
        )
    plan = plan_arithmetic(
        perturbations,
        cell_types,
        (target[1], target[0]),
        control_perturbation,
        names=(names[1], names[0]),
        nouns=("perturbation", "cell type"),
    )
    return plan, (plan.target[1], plan.target[0]), (plan.target[1], plan.control)


def _draw_seeds(seed: int | None, n_draws: int) -> list[int | None]:
    """Seeds of the extra predictions behind the uncertainty (``None``: unseeded)."""
    if seed is None:
        return [None] * n_draws
    states = np.random.SeedSequence(seed).generate_state(n_draws, dtype=np.uint32)
    return [int(state) % (2**31 - 1) for state in states]


def _prediction_anndata(
    adata: AnnData,
    expression: np.ndarray,
    result: LatentArithmetic,
    *,
    keys: tuple[str, str],
    target: tuple[Hashable, Hashable],
    provenance: dict[str, str],
    seed: int | None,
) -> AnnData:
    n_cells = len(result.codes)
    obs = pd.DataFrame(index=pd.Index([f"predicted_{i}" for i in range(n_cells)]))
    for key, value in zip(keys, target, strict=True):
        obs[key] = pd.Categorical([value] * n_cells)
    for key, value in provenance.items():
        obs[key] = pd.Categorical([value] * n_cells)
    obs["source_cell"] = np.asarray(adata.obs_names[result.source], dtype=str)
    predicted = AnnData(
        X=np.asarray(expression, dtype=np.float32),
        obs=obs,
        var=pd.DataFrame(index=adata.var_names),
    )
    predicted.obsm[PREDICTED_CODES_KEY] = np.asarray(result.codes, dtype=np.float32)
    uns = {
        "target": [str(t) for t in target],
        "control": str(result.control),
        "shared": [str(s) for s in result.shared],
        "delta": np.asarray(result.delta, dtype=np.float32),
        **provenance,
    }
    if seed is not None:
        uns["seed"] = int(seed)
    predicted.uns[PREDICTION_UNS_KEY] = uns
    return predicted


class DecoderArithmeticMixin(LatentArithmeticMixin):
    """``predict`` for VAEs: codes from the encoder, expression from the decoder.

    ``expression="mean"`` (the default): the decoded expected expression, scaled to a library
    of 1e4 and ``log1p``-transformed, comparable with log-normalised data (for the ``"normal"``
    likelihood the decoder's output is returned as it is, in the space of the data).
    ``expression="sample"``: cells drawn from the likelihood by the model's ``generate``
    (counts at the source cells' library sizes, or at the library sizes the codes decode to
    for a model built with ``decode_library=True``, log-normalised to 1e4), which compare with
    real cells and MichiGAN's cells in realism metrics.
    """

    _prediction_expressions = ("mean", "sample")

    def _arithmetic_codes(
        self, adata: AnnData, indices: np.ndarray, give_mean: bool, seed: int | None
    ) -> np.ndarray:
        with _torch_seed(seed):
            return self.get_latent_representation(adata, indices=indices, give_mean=give_mean)

    def _arithmetic_expression(
        self,
        codes: np.ndarray,
        adata: AnnData,
        source: np.ndarray,
        seed: int | None,
        expression: str,
    ) -> np.ndarray:
        from scvi import REGISTRY_KEYS

        manager = self.get_anndata_manager(adata, required=True)
        batch = np.asarray(manager.get_from_registry(REGISTRY_KEYS.BATCH_KEY)).ravel()[source]
        if expression == "sample":
            library = None  # "normal", or the library size the codes decode to
            if self._takes_observed_library:
                counts = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
                library = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()[source]
            cells = self.generate(codes=codes, batch=batch, library_size=library, seed=seed)
            return np.asarray(cells.X)
        decoded = self.decode(codes, batch=batch, library_size=TARGET_SUM)
        if self.module.gene_likelihood == "normal":
            return decoded
        return np.log1p(decoded)
