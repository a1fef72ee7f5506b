"""The simulators' arguments: named presets, and values given once or per group."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def per_group(
    value: float | Sequence[float], name: str, n_groups: int, group: str
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
