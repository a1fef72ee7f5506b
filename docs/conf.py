"""Sphinx configuration of the michigan documentation."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "michigan"
author = "The michigan developers"
copyright = "2026, The michigan developers"
release = _version("michigan")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
]
autosummary_generate = True
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
myst_enable_extensions = ["dollarmath", "colon_fence"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "scripts"]
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
    "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
    "scvi": ("https://docs.scvi-tools.org/en/stable/", None),
    "torch": ("https://pytorch.org/docs/stable/", None),
}
