"""docs/api.md lists every public name of every public namespace, and nothing that is gone."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import michigan

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
#: The namespaces whose ``__all__`` is the public API (``michigan.cli`` is the command line).
NAMESPACES = [
    "michigan",
    "michigan.baselines",
    "michigan.benchmark",
    "michigan.data",
    "michigan.datasets",
    "michigan.metrics",
    "michigan.model",
    "michigan.module",
    "michigan.pl",
    "michigan.tl",
    "michigan.train",
]
#: An entry of an autosummary table: indented, a dotted name, nothing else on the line.
ENTRY = re.compile(r"^ {3}(?P<name>[A-Za-z_][\w.]*)\s*$")


def _documented() -> dict[str, object]:
    """The names the API page lists, as ``michigan.…`` paths, with the objects they name."""
    text = API_PAGE.read_text(encoding="utf-8")
    assert ".. currentmodule:: michigan" in text
    documented = {}
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            path = f"michigan.{match['name']}"
            module_name, _, attribute = path.rpartition(".")
            module = importlib.import_module(module_name)
            assert hasattr(module, attribute), f"docs/api.md lists {path}, which does not exist"
            documented[path] = getattr(module, attribute)
    return documented


def _public_names(namespace: str) -> list[str]:
    module = importlib.import_module(namespace)
    return [
        name
        for name in module.__all__
        if not name.startswith("__") and not inspect.ismodule(getattr(module, name))
    ]


def test_every_public_subpackage_is_checked():
    public = {
        f"michigan.{info.name}"
        for info in pkgutil.iter_modules(michigan.__path__)
        if not info.name.startswith("_") and info.name != "cli"
    }
    assert public <= set(NAMESPACES), f"add {sorted(public - set(NAMESPACES))} to NAMESPACES"


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_api_page_lists_every_public_name(namespace):
    documented = _documented()
    # A class or function re-exported elsewhere (``michigan.model.TCVAE`` is ``michigan.TCVAE``)
    # is documented once.
    documented_objects = [
        obj for obj in documented.values() if inspect.isclass(obj) or inspect.isroutine(obj)
    ]
    module = importlib.import_module(namespace)
    missing = [
        name
        for name in _public_names(namespace)
        if f"{namespace}.{name}" not in documented
        and not any(getattr(module, name) is obj for obj in documented_objects)
    ]
    assert not missing, f"docs/api.md does not list {namespace}: {missing}"


def test_api_page_lists_each_name_once():
    text = API_PAGE.read_text(encoding="utf-8")
    names = [match["name"] for line in text.splitlines() if (match := ENTRY.match(line))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"docs/api.md lists {repeated} more than once"
