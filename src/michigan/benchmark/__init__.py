"""The paper's benchmark in one call: methods × metrics × seeds on a named data set.

- :func:`run` — train every method on a preset, score it, write a tidy CSV, a markdown table
  of mean ± SD over seeds and the paper's figures (also ``michigan benchmark`` on the
  command line).
- :data:`PRESETS` — the data sets (two Splatter set-ups, three PROSSTT trees, two real sets);
  :func:`load_preset` loads one.
- :data:`METHODS` — PPCA, VAE, β-VAE, β-TCVAE, GMM, WGAN-GP, InfoWGAN-GP (and its
  semi-supervised variant) and MichiGAN.
- :func:`summarize`, :func:`to_markdown`, :func:`against_paper` — tables from the tidy
  results (the last beside the paper's Table 1, :data:`PAPER_TABLE1`); :func:`merge`
  combines runs of other seeds (e.g. run side by side) into one report.
"""

from __future__ import annotations

from ._methods import METHODS, BenchmarkSettings
from ._presets import PRESETS, BenchmarkPreset, load_preset
from ._report import PAPER_TABLE1, against_paper, summarize, to_markdown
from ._run import merge, run

__all__ = [
    "METHODS",
    "PAPER_TABLE1",
    "PRESETS",
    "BenchmarkPreset",
    "BenchmarkSettings",
    "against_paper",
    "load_preset",
    "merge",
    "run",
    "summarize",
    "to_markdown",
]
