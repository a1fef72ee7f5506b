"""Data sets: simulators with ground truth and the real data of the MichiGAN paper.

Simulators (every generating variable recorded in ``.obs``, per-gene truth in ``.var``):

- :func:`splatter_paths` — Splatter's "paths" model (batch, path, step, library size);
  :data:`SPLATTER_PRESETS` holds the paper's linear- and non-linear-step set-ups.
- :func:`prosstt_tree` — PROSSTT's branching trees (branch, time, library size);
  :data:`PROSSTT_PRESETS` holds the paper's 3-, 4- and 5-way trees.

Real data, with integer counts in ``.X`` and ``.layers["counts"]``:

- :func:`pbmc68k` — scanpy's bundled ``pbmc68k_reduced`` with its counts rebuilt (offline).
- :func:`kang_pbmc`, :func:`pancreas`, :func:`tabula_muris`, :func:`sciplex` — a local file,
  or a download with pooch.
"""

from __future__ import annotations

from ._pbmc68k import pbmc68k
from ._prosstt import PROSSTT_PRESETS, prosstt_tree
from ._real import kang_pbmc, pancreas, sciplex, tabula_muris
from ._splatter import SPLATTER_PRESETS, splatter_paths

__all__ = [
    "PROSSTT_PRESETS",
    "SPLATTER_PRESETS",
    "kang_pbmc",
    "pancreas",
    "pbmc68k",
    "prosstt_tree",
    "sciplex",
    "splatter_paths",
    "tabula_muris",
]
