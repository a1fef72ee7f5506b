"""Sphinx configuration of the michigan documentation.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (or ``nox -s docs``). The build
needs no network: the tutorials are rendered from the committed notebooks without executing
them, and intersphinx links to other projects' docs are only fetched on Read the Docs or when
``MICHIGAN_DOCS_INTERSPHINX=1`` is set.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
from importlib.metadata import version as _version
from pathlib import Path

from docutils import nodes
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

project = "michigan"
author = "The michigan developers"
copyright = "2026, The michigan developers"
release = _version("michigan")

DOCS = Path(__file__).resolve().parent
#: The notebooks of ``tutorials/``, copied into the docs' source tree at every build.
TUTORIALS = DOCS.parent / "tutorials"
NOTEBOOKS = DOCS / "notebooks"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
if os.environ.get("READTHEDOCS") == "True" or os.environ.get("MICHIGAN_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
        "scvi": ("https://docs.scvi-tools.org/en/stable/", None),
        "torch": ("https://pytorch.org/docs/stable/", None),
    }

autosummary_generate = True
templates_path = ["_templates"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# "Attributes" sections as fields, so that they do not repeat the members documented below.
napoleon_use_ivar = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# The notebooks are stored with their outputs (or none); the docs never run them.
nb_execution_mode = "off"
exclude_patterns = ["_build", "scripts", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]


#: Members that a class page documents when it inherits them from these packages; members
#: inherited from others (PyTorch, Lightning, scikit-learn) are theirs to document.
DOCUMENTED_ORIGINS = ("michigan", "scvi.model")


#: The namespaces whose ``__all__`` docs/api.md lists (tests/test_api_docs.py checks it).
NAMESPACES = (
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
)


def _is_documented_here(cls: type, name: str) -> bool:
    """Whether ``cls``'s page documents member ``name``: michigan's own, or scvi-tools' models'."""
    owner = next((base for base in cls.__mro__ if name in vars(base)), None)
    if owner is None or not owner.__module__.startswith(DOCUMENTED_ORIGINS):
        return False
    value = vars(owner)[name]
    function = getattr(value, "fget", None) or getattr(value, "__func__", None) or value
    origin = getattr(function, "__module__", None)
    # Plain values (numbers, strings) report "builtins"; generated methods (scikit-learn's
    # set_*_request) report their generator's package.
    return origin in (None, "builtins") or origin.startswith(DOCUMENTED_ORIGINS)


def _documented_members() -> dict[str, str]:
    """For each public class, as ``michigan.…``: the members its page documents."""
    members = {}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for class_name in module.__all__:
            cls = getattr(module, class_name)
            if inspect.isclass(cls):
                names = [
                    name
                    for name in dir(cls)
                    if not name.startswith("_") and _is_documented_here(cls, name)
                ]
                members[f"{namespace}.{class_name}"] = ", ".join(names)
    return members


autosummary_context = {"documented_members": _documented_members()}


def _constant_comment(fullname: str, value) -> list[str] | None:
    """The ``#:`` comment above a constant, in whichever submodule of its namespace defines it."""
    namespace, _, attribute = fullname.rpartition(".")
    package = importlib.import_module(namespace)
    submodules = pkgutil.iter_modules(getattr(package, "__path__", []))
    candidates = [namespace] + [f"{namespace}.{info.name}" for info in submodules]
    for module_name in candidates:
        if getattr(importlib.import_module(module_name), attribute, None) is not value:
            continue
        try:
            comments = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except PycodeError:
            continue
        if ("", attribute) in comments:
            return list(comments[("", attribute)])
    return None


def _document_constant(app, what, name, obj, options, lines) -> None:
    """A re-exported constant gets its defining module's comment, never its type's docstring."""
    if what != "data":
        return
    comment = _constant_comment(name, obj)
    if comment is not None:
        lines[:] = comment
    elif "\n".join(lines).strip() == inspect.cleandoc(type(obj).__doc__ or ""):
        lines.clear()


def _copy_tutorials(app) -> None:
    """Copy ``tutorials/*.ipynb`` into ``docs/notebooks/`` (git-ignored) before reading."""
    NOTEBOOKS.mkdir(exist_ok=True)
    for notebook in sorted(TUTORIALS.glob("*.ipynb")):
        target = NOTEBOOKS / notebook.name
        if not target.is_file() or target.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, target)


def _parameter_reference(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:paramref:`` of docstrings inherited from Lightning, shown as inline code."""
    return [nodes.literal(rawtext, text.lstrip("~").split(".")[-1])], []


def setup(app) -> None:
    app.connect("builder-inited", _copy_tutorials)
    app.add_role("paramref", _parameter_reference)
    app.connect("autodoc-process-docstring", _document_constant)
