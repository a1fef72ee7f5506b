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
- :func:`leave_one_out` — hold out each cell type's perturbed cells in turn, predict them
  with MichiGAN, a β-TCVAE, a VAE, scGen and two model-free baselines, and score them
  (``michigan benchmark kang-loo`` on the command line); :data:`LEAVE_ONE_OUT_METHODS`.
"""

from __future__ import annotations

from ._leave_one_out import LEAVE_ONE_OUT_METHODS, leave_one_out
from ._methods import METHODS, BenchmarkSettings
from ._presets import PRESETS, BenchmarkPreset, load_preset
from ._report import PAPER_TABLE1, against_paper, summarize, to_markdown
from ._run import merge, run

__all__ = [
    "LEAVE_ONE_OUT_METHODS",
    "METHODS",
    "PAPER_TABLE1",
    "PRESETS",
    "BenchmarkPreset",
    "BenchmarkSettings",
    "against_paper",
    "leave_one_out",
    "load_preset",
    "merge",
    "run",
    "summarize",
    "to_markdown",
]
