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
    codes of some cells, and ``_arithmetic_expression(codes, adata, source, seed)``, the
    log-normalised expression of codes (``source`` are the rows of the control cells they
    came from, e.g. for their batch).
    """

    def _arithmetic_codes(
        self, adata: AnnData, indices: np.ndarray, give_mean: bool, seed: int | None
    ) -> np.ndarray:
        raise NotImplementedError

    def _arithmetic_expression(
        self, codes: np.ndarray, adata: AnnData, source: np.ndarray, seed: int | None
    ) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self,
        adata: AnnData | None = None,
        *,
        cell_type_key: str,
        perturbation_key: str,
        target: tuple[Hashable, Hashable],
        control_cell_type: Hashable | None = None,
        code_source: CodeSource = "sample",
        n_cells: int | None = None,
        seed: int | None = None,
        arithmetic: Arithmetic = "cell_type",
        control_perturbation: Hashable | None = None,
        balance: bool = True,
    ) -> AnnData:
        """Predict cells of an unseen (cell type, perturbation) combination.

        Latent-space arithmetic (:func:`michigan.tl.latent_arithmetic`): the mean latent
        difference ``Δ`` between the target cell type and a control cell type over the
        perturbations both were seen with (groups resampled to equal sizes, each perturbation
        weighted equally) is added to the codes of the control cell type's cells under the
        target perturbation; the shifted codes are turned into expression by the model.
        ``adata`` is only read (an AnnData not yet registered with the model gets
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
        control_cell_type
            Cell type whose cells under the target perturbation are shifted. ``None`` picks
            the cell type with the most cells under the target perturbation among those that
            share at least one other perturbation with the target cell type.
        code_source
            ``"sample"``: one posterior sample per cell (the paper's better choice);
            ``"mean"``: posterior means.
        n_cells
            Cells to predict; ``None`` shifts each control cell once.
        seed
            Seed of the resampling, the posterior samples and the generator's noise.
        arithmetic
            ``"cell_type"`` (the paper's, above) or ``"perturbation"`` (scGen's): ``Δ`` is the
            mean difference between the target perturbation and a control perturbation over
            the cell types seen with both, added to the target cell type's cells under the
            control perturbation.
        control_perturbation
            For ``arithmetic="perturbation"``: the control perturbation (``None`` picks the
            one with the most cells of the target cell type sharing cell types with the
            target perturbation).
        balance
            Resample groups to equal sizes when estimating ``Δ``.

        Returns
        -------
        AnnData of predicted cells over ``adata``'s genes: log-normalised expression
        (``log1p`` at library size 1e4) in ``.X``; the target labels under
        ``cell_type_key`` and ``perturbation_key`` and the provenance (``prediction_control``,
        ``prediction_code_source``, ``prediction_method``, ``prediction_arithmetic``,
        ``source_cell``) in ``.obs``; the predicted codes in ``.obsm["X_predicted"]``; ``Δ``
        and the shared groups in ``.uns["prediction"]``.

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
        """
        adata = self.adata if adata is None else adata
        validate_obs_keys(adata, [cell_type_key, perturbation_key])
        check_choice(code_source, "code_source", CODE_SOURCES)
        check_choice(arithmetic, "arithmetic", ARITHMETICS)
        if n_cells is not None:
            check_positive_int(n_cells, "n_cells")
        cell_types = adata.obs[cell_type_key].to_numpy()
        perturbations = adata.obs[perturbation_key].to_numpy()
        if arithmetic == "cell_type":
            if control_perturbation is not None:
                raise ValueError(
                    "control_perturbation applies to arithmetic='perturbation'; with "
                    "arithmetic='cell_type' pass control_cell_type instead"
                )
            plan = plan_arithmetic(
                cell_types,
                perturbations,
                target,
                control_cell_type,
                names=(cell_type_key, perturbation_key),
            )
            target_pair = plan.target
        else:
            if control_cell_type is not None:
                raise ValueError(
                    "control_cell_type applies to arithmetic='cell_type'; with "
                    "arithmetic='perturbation' pass control_perturbation instead"
                )
            if isinstance(target, str) or not isinstance(target, Sequence) or len(target) != 2:
                raise ValueError(
                    f"target must be a (cell type, perturbation) pair, got {target!r}"
                )
            plan = plan_arithmetic(
                perturbations,
                cell_types,
                (target[1], target[0]),
                control_perturbation,
                names=(perturbation_key, cell_type_key),
                nouns=("perturbation", "cell type"),
            )
            target_pair = (plan.target[1], plan.target[0])
        adata = self._validate_anndata(adata)
        rng = np.random.default_rng(seed)
        rows = plan.rows
        latent = self._arithmetic_codes(adata, rows, code_source == "mean", seed)
        all_codes = np.full((adata.n_obs, latent.shape[1]), np.nan)
        all_codes[rows] = latent
        result = apply_plan(all_codes, plan, n_cells, balance, rng)
        expression = self._arithmetic_expression(result.codes, adata, result.source, seed)
        return _prediction_anndata(
            adata,
            expression,
            result,
            keys=(cell_type_key, perturbation_key),
            target=target_pair,
            provenance={
                "prediction_control": str(result.control),
                "prediction_code_source": code_source,
                "prediction_method": type(self).__name__.lower(),
                "prediction_arithmetic": arithmetic,
            },
            seed=seed,
        )


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

    The decoded expected expression is scaled to a library of 1e4 and ``log1p``-transformed,
    to be comparable with log-normalised data and MichiGAN's output (for the ``"normal"``
    likelihood the decoder's output is returned as it is, in the space of the data).
    """

    def _arithmetic_codes(
        self, adata: AnnData, indices: np.ndarray, give_mean: bool, seed: int | None
    ) -> np.ndarray:
        with _torch_seed(seed):
            return self.get_latent_representation(adata, indices=indices, give_mean=give_mean)

    def _arithmetic_expression(
        self, codes: np.ndarray, adata: AnnData, source: np.ndarray, seed: int | None
    ) -> np.ndarray:
        from scvi import REGISTRY_KEYS

        manager = self.get_anndata_manager(adata, required=True)
        batch = np.asarray(manager.get_from_registry(REGISTRY_KEYS.BATCH_KEY)).ravel()[source]
        expression = self.decode(codes, batch=batch, library_size=TARGET_SUM)
        if self.module.gene_likelihood == "normal":
            return expression
        return np.log1p(expression)
