"""Development sessions: ``nox -s tests lint docs bench``.

Every session installs with ``constraints.txt``, which pins the torch release CI uses (a CPU
wheel on CPU-only machines) and ``pynndescent<0.7``.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", "constraints.txt")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, as README.md and CI run it."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format checks."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx documentation into docs/_build/html; any warning fails the build."""
    session.install(*CONSTRAINTS, "-e", ".[docs]")
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks (never part of the tests); figures go to docs/benchmarks.md."""
    session.install(*CONSTRAINTS, "-e", ".")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        if script.name != "bench_generation.py":  # hours at its defaults: its own session
            session.run("python", str(script))


@nox.session
def bench_generation(session: nox.Session) -> None:
    """Generation quality against CPU time (docs/generation_benchmark.md); arguments follow ``--``.

    ``nox -s bench_generation -- --datasets pbmc68k --seeds 0 --gan-minutes 2`` is the small
    configuration; without arguments it runs 3 data sets × 3 seeds × 10 GAN minutes.
    """
    session.install(*CONSTRAINTS, "-e", ".")
    session.run("python", "benchmarks/bench_generation.py", *session.posargs)
