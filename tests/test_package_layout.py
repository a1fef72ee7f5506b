"""The package's layering: sub-packages talk through public names, models hold no networks."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import lightning.pytorch as pl
import pytest
from torch import nn

import michigan

ROOT = Path(michigan.__file__).parent


def _modules() -> list[tuple[str, Path]]:
    """Every module of the package: its dotted name and its file."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _subpackage(dotted: str) -> str | None:
    """``"michigan.model"`` for ``"michigan.model._gan_base"``; ``None`` for root modules."""
    parts = dotted.split(".")
    if len(parts) < 2 or not (ROOT / parts[1]).is_dir():
        return None
    return ".".join(parts[:2])


def _imports(dotted: str, path: Path, is_package: bool):
    """``(target module, imported name, line)`` of every ``from ... import`` of the file."""
    package = dotted if is_package else dotted.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "michigan":
            continue
        for alias in node.names:
            yield target, alias.name, node.lineno


def _private_crossings() -> list[str]:
    crossings = []
    for dotted, path in _modules():
        source = _subpackage(dotted)
        for target, name, line in _imports(dotted, path, path.name == "__init__.py"):
            destination = _subpackage(target)
            if destination is None or destination == source:
                continue  # root-level helpers are shared; a sub-package may use its own
            inner = target[len(destination) :].split(".")
            private_path = any(part.startswith("_") for part in inner if part)
            full = f"{target}.{name}"
            if private_path or name.startswith("_"):
                crossings.append(f"{path.relative_to(ROOT)}:{line} imports {full}")
    return crossings


def test_no_private_name_is_imported_across_subpackages():
    assert _private_crossings() == []


def test_the_walk_sees_the_imports_it_judges():
    # A known public crossing: the models import the GAN module through michigan.module.
    targets = {
        (target, name)
        for dotted, path in _modules()
        if dotted == "michigan.model._gan_base"
        for target, name, _ in _imports(dotted, path, False)
    }
    assert ("michigan.module", "GANModule") in targets
    assert ("michigan.train", "WGANTrainingPlan") in targets


@pytest.mark.parametrize("kind", [nn.Module, pl.LightningModule])
def test_no_network_or_plan_is_defined_under_model(kind):
    defined = []
    for info in pkgutil.walk_packages(michigan.model.__path__, "michigan.model."):
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, kind):
                defined.append(f"{info.name}.{name}")
    assert defined == []
