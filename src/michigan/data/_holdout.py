"""Hold out (cell type, perturbation) combinations, for testing out-of-sample prediction."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._validation import validate_obs_keys

#: ``.uns`` key under which both returned AnnDatas record what was held out.
HOLD_OUT_UNS_KEY = "michigan_hold_out"
#: scvi-tools' registration marks, dropped from the copies so that each is set up afresh.
_SCVI_REGISTRATION_KEYS = ("_scvi_uuid", "_scvi_manager_uuid")


def _as_combinations(
    combinations: tuple[Hashable, Hashable] | Sequence[tuple[Hashable, Hashable]],
) -> list[tuple[Hashable, Hashable]]:
    def is_pair(value) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) == 2
            and not any(isinstance(v, tuple | list | np.ndarray) for v in value)
        )

    if is_pair(combinations):
        return [tuple(combinations)]
    if isinstance(combinations, str) or not isinstance(combinations, Sequence):
        raise ValueError(
            "combinations must be a (cell type, perturbation) pair or a list of pairs, got "
            f"{combinations!r}; e.g. [('CD4T', 'stimulated')]"
        )
    pairs = list(combinations)
    if not pairs:
        raise ValueError("combinations is empty; name at least one (cell type, perturbation)")
    for pair in pairs:
        if not is_pair(pair):
            raise ValueError(
                f"{pair!r} is not a (cell type, perturbation) pair; pass pairs such as "
                "('CD4T', 'stimulated')"
            )
    return [tuple(pair) for pair in pairs]


def hold_out(
    adata: AnnData,
    cell_type_key: str,
    perturbation_key: str,
    combinations: tuple[Hashable, Hashable] | Sequence[tuple[Hashable, Hashable]],
) -> tuple[AnnData, AnnData]:
    """Split off the cells of some (cell type, perturbation) combinations.

    Train on the first AnnData and compare predictions with the second: the held-out cells
    are absent from the training copy, so a model set up and trained on it never sees them.
    Both are copies; ``adata`` is left unchanged. Both record the held-out combinations in
    ``.uns["michigan_hold_out"]``. A registration with a model (``setup_anndata``) is not
    carried over: call ``setup_anndata`` on the training copy.

    Parameters
    ----------
    adata
        All cells.
    cell_type_key, perturbation_key
        Columns of ``adata.obs`` with the cell type and the perturbation of each cell.
    combinations
        One ``(cell type, perturbation)`` pair or a list of them; each must have cells.

    Returns
    -------
    ``(train, held_out)``: copies of ``adata`` without and with only the held-out cells.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.kang_pbmc("kang_pbmc_ifnb_scgen_valid.h5ad")  # doctest: +SKIP
    >>> train, held_out = mg.data.hold_out(
    ...     adata, "cell_type", "condition", [("CD4T", "stimulated")]
    ... )  # doctest: +SKIP
    >>> mg.TCVAE.setup_anndata(train, layer="counts")  # doctest: +SKIP
    """
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData, got {type(adata).__name__}")
    validate_obs_keys(adata, [cell_type_key, perturbation_key])
    pairs = _as_combinations(combinations)
    cell_types = adata.obs[cell_type_key].to_numpy()
    perturbations = adata.obs[perturbation_key].to_numpy()
    held = np.zeros(adata.n_obs, dtype=bool)
    for cell_type, perturbation in pairs:
        for key, value, labels in (
            (cell_type_key, cell_type, cell_types),
            (perturbation_key, perturbation, perturbations),
        ):
            if not (labels == value).any():
                categories = ", ".join(map(repr, pd.unique(pd.Series(labels).dropna())[:20]))
                raise ValueError(
                    f"{value!r} does not occur in adata.obs[{key!r}] (categories: "
                    f"{categories}); check the spelling and the order (cell type, perturbation)"
                )
        mask = (cell_types == cell_type) & (perturbations == perturbation)
        if not mask.any():
            raise ValueError(
                f"no cell is both {cell_type!r} ({cell_type_key}) and {perturbation!r} "
                f"({perturbation_key}); hold out combinations that are observed"
            )
        held |= mask
    if held.all():
        raise ValueError("the combinations cover every cell; nothing would be left to train on")
    record = {
        "cell_type_key": cell_type_key,
        "perturbation_key": perturbation_key,
        "cell_types": np.asarray([str(c) for c, _ in pairs]),
        "perturbations": np.asarray([str(p) for _, p in pairs]),
    }
    train, held_out = adata[~held].copy(), adata[held].copy()
    for part in (train, held_out):
        for key in _SCVI_REGISTRATION_KEYS:
            part.uns.pop(key, None)
        part.uns[HOLD_OUT_UNS_KEY] = dict(record)
    return train, held_out
