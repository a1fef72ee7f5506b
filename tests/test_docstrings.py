"""Every public docstring is complete: shared snippets inserted, no placeholder left."""

from __future__ import annotations

import inspect

import pytest

import michigan as mg
from michigan._docs import SNIPPETS, insert_docs

NAMESPACES = [mg, mg.metrics, mg.pl, mg.tl, mg.datasets, mg.baselines, mg.benchmark]


def _public_objects():
    for namespace in NAMESPACES:
        for name in getattr(namespace, "__all__", []):
            obj = getattr(namespace, name)
            yield f"{namespace.__name__}.{name}", obj
            if inspect.isclass(obj):
                for member_name, member in vars(obj).items():
                    if not member_name.startswith("_"):
                        yield f"{namespace.__name__}.{name}.{member_name}", member


@pytest.mark.parametrize(("name", "obj"), list(_public_objects()), ids=lambda v: str(v)[:60])
def test_no_snippet_placeholder_is_left(name, obj):
    doc = inspect.getdoc(getattr(obj, "__func__", obj)) or ""
    assert "%(" not in doc, f"{name}: a docstring snippet was not inserted (missing @insert_docs?)"


def test_insert_docs_indents_the_snippet_like_its_placeholder():
    @insert_docs
    def plot(ax=None, show=None, save=None):
        """Draw.

        Parameters
        ----------
        %(plot_ax)s
        """

    expected = "\n".join("        " + line for line in SNIPPETS["plot_ax"].splitlines())
    assert expected in plot.__doc__
    assert "%(" not in plot.__doc__


def test_insert_docs_names_an_unknown_snippet():
    def plot():
        """Draw.

        %(no_such_snippet)s
        """

    with pytest.raises(KeyError, match="no_such_snippet"):
        insert_docs(plot)
    assert "plot_ax" in SNIPPETS
