"""Latent-space arithmetic on arrays: the codes of an unseen (cell type, perturbation) group.

The arithmetic of MichiGAN's predictions (Yu & Welch 2021, after scGen): to predict the unobserved
combination ``(C_t, D_h)`` from a control cell type ``C_c`` seen under ``D_h``,

``Δ = mean over shared perturbations s of [mean z(C_t, D_s) − mean z(C_c, D_s)]``,
``ẑ(C_t, D_h) = z(C_c, D_h) + Δ``.

Pure functions of codes and labels; models reach them through their ``predict``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from .._validation import check_positive_int

#: ``.obsm`` key of the predicted latent codes in the AnnData that ``predict`` returns.
PREDICTED_CODES_KEY = "X_predicted"
#: ``.uns`` key of the arithmetic's parameters and estimate (Δ, shared perturbations).
PREDICTION_UNS_KEY = "prediction"

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


class ArithmeticPlan(NamedTuple):
    """Which cells the arithmetic uses (row indices into the labels); no codes needed."""

    target: tuple[Hashable, Hashable]
    control: Hashable
    shared: list[Hashable]
    target_groups: list[np.ndarray]
    control_groups: list[np.ndarray]
    source: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """Sorted indices of every cell the arithmetic reads."""
        return np.unique(np.concatenate([*self.target_groups, *self.control_groups, self.source]))


class LatentArithmetic(NamedTuple):
    """Result of :func:`latent_arithmetic`."""

    #: Predicted codes ``z(C_c, D_h) + Δ``, shape ``(n_cells, n_latent)``.
    codes: np.ndarray
    #: Row index (into the input) of the control cell each prediction was shifted from.
    source: np.ndarray
    #: The latent difference ``Δ``, shape ``(n_latent,)``.
    delta: np.ndarray
    #: The control cell type ``C_c``.
    control: Hashable
    #: The perturbations ``Δ`` was averaged over.
    shared: list[Hashable]


def _categories(labels: np.ndarray) -> str:
    values = pd.unique(pd.Series(labels).dropna())
    shown = ", ".join(map(repr, values[:20]))
    return shown + (", ..." if len(values) > 20 else "")


def _as_labels(values: ArrayLike, n_obs: int | None, what: str) -> np.ndarray:
    labels = np.asarray(values, dtype=object)
    if labels.ndim != 1:
        raise ValueError(f"{what} must be one label per cell (1-D), got shape {labels.shape}")
    if n_obs is not None and len(labels) != n_obs:
        raise ValueError(f"{what} has {len(labels)} labels but there are {n_obs} cells")
    return labels


def plan_arithmetic(
    cell_types: ArrayLike,
    perturbations: ArrayLike,
    target: tuple[Hashable, Hashable],
    control: Hashable | None = None,
    *,
    names: tuple[str, str] = ("cell_types", "perturbations"),
    nouns: tuple[str, str] = ("cell type", "perturbation"),
) -> ArithmeticPlan:
    """Check a prediction request and pick the cells it uses (no codes needed).

    Parameters
    ----------
    cell_types, perturbations
        One label per cell.
    target
        ``(cell type, perturbation)`` to predict; it must not be observed.
    control
        Control cell type ``C_c``; ``None`` picks the cell type with the most cells under the
        target perturbation among those sharing at least one other perturbation with the
        target cell type (ties: the one sharing more perturbations, then the first in sorted
        order).
    names
        Where the labels come from, for error messages (e.g. the ``.obs`` keys).
    nouns
        What the two kinds of label are, for error messages (swapped for scGen's form).

    Returns
    -------
    An :class:`ArithmeticPlan` with the control, the shared perturbations and the row indices
    of every group.

    Examples
    --------
    >>> plan = plan_arithmetic(["a", "a", "b", "b"], ["x", "y", "x", "y"], ("a", "z"))
    Traceback (most recent call last):
    ...
    ValueError: perturbation 'z' does not occur in perturbations ...
    """
    cell_types = _as_labels(cell_types, None, names[0])
    perturbations = _as_labels(perturbations, len(cell_types), names[1])
    if isinstance(target, str) or not isinstance(target, Sequence) or len(target) != 2:
        raise ValueError(
            f"target must be a (cell type, perturbation) pair, got {target!r}; "
            "e.g. target=('CD4T', 'stimulated')"
        )
    cell_type, perturbation = target
    group, condition = nouns
    if not (cell_types == cell_type).any():
        raise ValueError(
            f"{group} {cell_type!r} does not occur in {names[0]} (categories: "
            f"{_categories(cell_types)}); pass one of those in target"
        )
    if not (perturbations == perturbation).any():
        raise ValueError(
            f"{condition} {perturbation!r} does not occur in {names[1]} (categories: "
            f"{_categories(perturbations)}); pass one of those in target"
        )
    counts = pd.crosstab(pd.Series(cell_types), pd.Series(perturbations))
    n_target = int(counts.loc[cell_type, perturbation])
    if n_target > 0:
        raise ValueError(
            f"the combination of {group} {cell_type!r} and {condition} {perturbation!r} is "
            f"observed ({n_target} cells), so there is nothing to predict; hold those cells "
            "out and train without them, e.g. with michigan.data.hold_out"
        )
    seen = counts > 0
    target_seen = seen.loc[cell_type].drop(perturbation)

    def shared_with(other: Hashable) -> list[Hashable]:
        both = target_seen & seen.loc[other].drop(perturbation)
        return list(both.index[both.to_numpy()])

    under_target = [c for c in counts.index if c != cell_type and seen.loc[c, perturbation]]
    usable = [c for c in under_target if shared_with(c)]
    if control is None:
        if not usable:
            raise ValueError(
                f"no {group} seen with {perturbation!r} shares another {condition} with "
                f"{cell_type!r} (seen with: {list(target_seen.index[target_seen.to_numpy()])}), "
                f"so the latent difference cannot be estimated; the data need a {condition} "
                f"observed with both the target and a control {group}"
            )
        control = max(usable, key=lambda c: (counts.loc[c, perturbation], len(shared_with(c))))
    elif control == cell_type:
        raise ValueError(
            f"the control {group} {control!r} is the target's; pass another {group} seen "
            f"with {perturbation!r}: {usable}"
        )
    elif control not in counts.index:
        raise ValueError(
            f"control {group} {control!r} does not occur in {names[0]} (categories: "
            f"{_categories(cell_types)}); pass one seen with {perturbation!r}: {usable}"
        )
    elif not seen.loc[control, perturbation]:
        raise ValueError(
            f"control {group} {control!r} has no cells with {perturbation!r}, whose codes it "
            f"must supply; pass one seen with {perturbation!r}: {usable}"
        )
    elif not shared_with(control):
        raise ValueError(
            f"{group}s {cell_type!r} and {control!r} share no {condition} besides "
            f"{perturbation!r}, so their latent difference cannot be estimated; pass a "
            f"control {group} that shares one: {usable}"
        )
    shared = shared_with(control)
    return ArithmeticPlan(
        target=(cell_type, perturbation),
        control=control,
        shared=shared,
        target_groups=[
            np.flatnonzero((cell_types == cell_type) & (perturbations == s)) for s in shared
        ],
        control_groups=[
            np.flatnonzero((cell_types == control) & (perturbations == s)) for s in shared
        ],
        source=np.flatnonzero((cell_types == control) & (perturbations == perturbation)),
    )


def balanced_delta(
    target_groups: Sequence[np.ndarray],
    control_groups: Sequence[np.ndarray],
    *,
    balance: bool = True,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Mean latent difference between paired groups, each pair weighted equally.

    For each pair ``s`` (one shared perturbation), both groups are resampled with replacement
    to the larger group's size ``n_s`` and the difference of their means is taken; the result
    is the plain mean over pairs. Each perturbation therefore counts once and each cell type
    counts equally within it, whatever the group sizes (a group duplicated ten times gives the
    same estimate in expectation).

    Parameters
    ----------
    target_groups, control_groups
        Codes of the target and the control cell type, one ``(n_cells, n_latent)`` array per
        shared perturbation, in the same order.
    balance
        Resample to equal sizes; ``False`` uses the group means as they are.
    seed
        Seed (or generator) of the resampling.

    Returns
    -------
    ``Δ``, shape ``(n_latent,)``.

    Examples
    --------
    >>> import numpy as np
    >>> target = [np.ones((5, 2)), 3 * np.ones((2, 2))]
    >>> control = [np.zeros((50, 2)), np.ones((4, 2))]
    >>> balanced_delta(target, control, seed=0)
    array([1.5, 1.5])
    """
    if len(target_groups) != len(control_groups) or not target_groups:
        raise ValueError("pass one target and one control group per shared perturbation (≥ 1)")
    rng = np.random.default_rng(seed)
    differences = []
    for target, control in zip(target_groups, control_groups, strict=True):
        if len(target) == 0 or len(control) == 0:
            raise ValueError("every group needs at least one cell")
        if balance:
            n_draws = max(len(target), len(control))
            target = target[rng.integers(len(target), size=n_draws)]
            control = control[rng.integers(len(control), size=n_draws)]
        differences.append(target.mean(axis=0) - control.mean(axis=0))
    return np.mean(differences, axis=0)


def apply_plan(
    codes: np.ndarray,
    plan: ArithmeticPlan,
    n_cells: int | None,
    balance: bool,
    rng: np.random.Generator,
) -> LatentArithmetic:
    """Carry out a checked :class:`ArithmeticPlan` on codes (rows indexed like the labels)."""
    delta = balanced_delta(
        [codes[rows] for rows in plan.target_groups],
        [codes[rows] for rows in plan.control_groups],
        balance=balance,
        seed=rng,
    )
    source = plan.source
    if n_cells is not None:
        replace = n_cells > len(source)
        source = np.sort(rng.choice(source, size=n_cells, replace=replace))
    return LatentArithmetic(codes[source] + delta, source, delta, plan.control, plan.shared)


def latent_arithmetic(
    codes: ArrayLike,
    cell_types: ArrayLike,
    perturbations: ArrayLike,
    target: tuple[Hashable, Hashable],
    control: Hashable | None = None,
    *,
    n_cells: int | None = None,
    balance: bool = True,
    seed: int | np.random.Generator | None = None,
) -> LatentArithmetic:
    """Predict the codes of an unseen (cell type, perturbation) combination.

    ``Δ = mean_s [mean z(C_t, D_s) − mean z(C_c, D_s)]`` over the perturbations ``s`` both
    the target cell type ``C_t`` and the control cell type ``C_c`` were seen with (balanced by
    :func:`balanced_delta`), then ``ẑ(C_t, D_h) = z(C_c, D_h) + Δ`` for the control cell
    type's cells under the held-out perturbation ``D_h``.

    scGen's form, a shift between perturbations averaged over cell types, is the same
    computation with the roles swapped: pass the perturbations as ``cell_types``, the cell
    types as ``perturbations``, ``target=(D_h, C_t)`` and a control perturbation.

    Parameters
    ----------
    codes
        Latent codes, ``(n_cells, n_latent)``.
    cell_types, perturbations
        One label per cell.
    target
        ``(C_t, D_h)``; it must not be observed in the labels.
    control
        Control cell type ``C_c``; see :func:`plan_arithmetic` for the default.
    n_cells
        Predicted cells: ``None`` shifts every cell of ``(C_c, D_h)`` once; otherwise that many
        are drawn from them (with replacement only when more than there are).
    balance
        Resample groups to equal sizes when estimating ``Δ``.
    seed
        Seed of the resampling.

    Returns
    -------
    :class:`LatentArithmetic` with the predicted codes, their source rows, ``Δ``, the control
    and the shared perturbations.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.array([[0.0, 0], [1, 0], [0, 5], [1, 5], [0, 5]])
    >>> cell_types = ["a", "a", "b", "b", "b"]
    >>> conditions = ["ctrl", "stim", "ctrl", "stim", "stim"]
    >>> result = latent_arithmetic(codes[:4], cell_types[:4], conditions[:4], ("b", "stim"))
    Traceback (most recent call last):
    ...
    ValueError: the combination of cell type 'b' and perturbation 'stim' is observed ...
    >>> result = latent_arithmetic(codes[[0, 1, 2]], cell_types[:3], conditions[:3], ("b", "stim"))
    >>> result.codes
    array([[1., 5.]])
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (cells × latents), got shape {codes.shape}")
    if len(codes) != len(np.asarray(cell_types, dtype=object)):
        raise ValueError(
            f"codes have {len(codes)} rows but cell_types has {len(cell_types)} labels"
        )
    if n_cells is not None:
        check_positive_int(n_cells, "n_cells")
    plan = plan_arithmetic(cell_types, perturbations, target, control)
    if not np.isfinite(codes[plan.rows]).all():
        raise ValueError("codes contain NaN or infinite values; encode the cells again")
    return apply_plan(codes, plan, n_cells, balance, np.random.default_rng(seed))
