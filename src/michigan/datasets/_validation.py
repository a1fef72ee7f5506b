"""Argument checks shared by the simulators: each error names the problem and the fix."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{name} must be an integer >= {minimum}, got {value!r}; pass {name}={minimum} or more"
        )
    return int(value)


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it lies in [0, 1], else raise."""
    if not _is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"{name} must be a probability in [0, 1], got {value!r}; pass a value between 0 and 1"
        )
    return float(value)


def check_nonnegative(name: str, value: Any, *, strict: bool = False) -> float:
    """Return ``value`` as a ``float`` if it is ``>= 0`` (``> 0`` when ``strict``), else raise."""
    bound_ok = _is_real(value) and (float(value) > 0 if strict else float(value) >= 0)
    if not bound_ok or not np.isfinite(float(value)):
        relation = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be a finite number {relation}, got {value!r}")
    return float(value)


def check_real(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number, else raise."""
    if not _is_real(value) or not np.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def per_group(
    name: str, value: float | Sequence[float], n_groups: int, group: str
) -> tuple[float, ...]:
    """Broadcast a scalar, or check a sequence, to one value per ``group``."""
    if _is_real(value):
        return (float(value),) * n_groups
    values = tuple(value)  # type: ignore[arg-type]
    if len(values) != n_groups:
        raise ValueError(
            f"{name} has {len(values)} values but there are {n_groups} {group}s; pass one "
            f"number or one per {group}"
        )
    return values


def apply_preset(
    function: Callable[..., Any],
    preset: str | None,
    presets: Mapping[str, Mapping[str, Any]],
    arguments: dict[str, Any],
) -> dict[str, Any]:
    """Fill the arguments left at their defaults with the values of a named preset.

    Arguments given a value other than their default win over the preset, so
    ``prosstt_tree(preset="3-way", n_cells=500)`` is a small 3-way tree.
    """
    if preset is None:
        return dict(arguments)
    if preset not in presets:
        raise ValueError(
            f"unknown preset {preset!r}; choose one of {sorted(presets)} or pass preset=None"
        )
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
    }
    resolved = dict(arguments)
    for name, preset_value in presets[preset].items():
        if _same(resolved[name], defaults[name]):
            resolved[name] = preset_value
    return resolved


def _same(left: Any, right: Any) -> bool:
    if _is_real(left) and _is_real(right):
        return float(left) == float(right)
    return left is right


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
