"""Matching a user's genes to a model's by name."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Gene names quoted in an error message, at most.
N_NAMES_SHOWN = 5


def _quoted(names: Sequence[str]) -> str:
    shown = ", ".join(repr(str(name)) for name in names[:N_NAMES_SHOWN])
    return shown + (", ..." if len(names) > N_NAMES_SHOWN else "")


def check_unique_var_names(var_names: Sequence[str], what: str = "adata") -> None:
    """Raise when gene names repeat (a gene could then not be found by its name).

    Parameters
    ----------
    var_names
        ``adata.var_names``.
    what
        How the message names the data.

    Examples
    --------
    >>> check_unique_var_names(adata.var_names)
    """
    names = pd.Index(np.asarray(var_names, dtype=str))
    if names.is_unique:
        return
    duplicated = names[names.duplicated()].unique()
    raise ValueError(
        f"{what} has {len(duplicated)} duplicated gene name(s) ({_quoted(duplicated)}); genes "
        "are matched by name, so make them unique first: adata.var_names_make_unique()"
    )


def gene_order(var_names: Sequence[str], reference: Sequence[str]) -> np.ndarray | None:
    """Positions in ``var_names`` of the genes of ``reference``, matched by name.

    Parameters
    ----------
    var_names
        The genes of the user's data, e.g. ``adata.var_names``.
    reference
        The genes the model was trained on, in the model's order.

    Returns
    -------
    ``None`` when ``var_names`` equals ``reference`` (nothing to do), otherwise the integer
    positions ``order`` such that ``adata[:, order]`` has the genes in the model's order.

    Raises
    ------
    ValueError
        When a name repeats, or the two sets of genes differ; the message names the genes.

    Examples
    --------
    >>> order = gene_order(adata.var_names, model.adata.var_names)
    >>> matched = adata if order is None else adata[:, order].copy()
    """
    names = pd.Index(np.asarray(var_names, dtype=str))
    reference = pd.Index(np.asarray(reference, dtype=str))
    check_unique_var_names(names)
    if names.equals(reference):
        return None
    missing = reference.difference(names, sort=False)
    if len(missing):
        raise ValueError(
            f"adata lacks {len(missing)} of the model's {len(reference)} genes (missing: "
            f"{_quoted(missing)}); genes are matched by name, so pass data with every gene the "
            "model was trained on (model.adata.var_names)"
        )
    extra = names.difference(reference, sort=False)
    if len(extra):
        raise ValueError(
            f"adata has {len(extra)} gene(s) the model was not trained on ({_quoted(extra)}); "
            "subset it to the model's genes: adata[:, model.adata.var_names].copy()"
        )
    return names.get_indexer(reference)
