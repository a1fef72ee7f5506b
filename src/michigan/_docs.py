"""Docstring snippets shared by several public functions, and the decorator that inserts them.

A docstring names a snippet with a line holding only ``%(name)s``; :func:`insert_docs`
replaces that line with the snippet, indented like the placeholder. Each snippet is written
once here, so that the functions sharing an argument also share its description.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

SNIPPETS: dict[str, str] = {
    "setup_anndata_checks": """\
The data are checked first (a non-empty, numeric, finite matrix with at least two genes;
existing layer and ``.obs`` columns), so that bad input raises before anything is written to
``adata``.""",
    "setup_anndata_params": """\
adata
    Cells × genes.
layer
    Layer with raw counts (``None``: ``adata.X``). The GANs learn their log-normalised values
    unless the model is given a layer of processed expression (``gan_layer``).
batch_key
    Column of ``adata.obs`` with the batch of each cell. The β-TCVAE's decoder is conditioned
    on it (MichiGAN passes it on to the β-TCVAE it trains); the GANs are not.
labels_key
    Column of ``adata.obs`` with cell labels (kept for downstream use, e.g. latent
    arithmetic; the models do not train on them).
**kwargs
    Passed to :meth:`scvi.data.AnnDataManager.register_fields`.""",
    "gan_network_options": """\
**network_kwargs
    Options of the GAN's networks and of the data it learns (defaults in brackets):
    ``gan_layer`` (``None``), a layer with processed expression to learn as it is instead of
    the log-normalised registered counts; ``log_normalize`` (``gan_layer is None``);
    ``target_sum`` (1e4), the total per cell before ``log1p``; ``generator_hidden`` (the
    paper's ``(256, 512, 1024)``) and ``critic_hidden`` (the paper's ``(1024, 512)``),
    hidden widths;
    ``n_features`` (64 for a conditional critic, the paper's 10 for an unconditional one), the
    width ``h`` of the critic's features; ``critic_normalization``
    (``"layer"``; ``"none"``, or the paper's ``"batch"``, which breaks the per-sample
    gradient penalty); ``output_head`` (``"counts"`` for counts: the generator gives each
    cell's expected profile and its counts are drawn at a real cell's library size from
    ``count_likelihood``, ``"nb"`` with a learned per-gene dispersion or ``"poisson"``, then
    log-normalised as real cells are; ``count_dispersion``, where the negative binomial's
    dispersion starts: ``"neighbours"``, each gene's noise around the pooled profile of a
    cell's 15 nearest cells in code space (principal axes for the unconditional GANs), set
    when training starts, or a number for every gene); ``"library_size"``, the earlier head
    for counts: a ReLU profile scaled to the library ``target_sum``; ``"expression"`` for a
    processed ``gan_layer``, with ``output_activation``: ``"relu"``, ``"softplus"``, or
    ``None`` for data with negative values); ``generator_normalization`` (``"layer"``; the
    paper's ``"batch"``); ``dropout_rate`` (0; the paper's 0.2) of the generator's hidden
    layers; and the further options of :class:`~michigan.module.GANModule`
    (``critic_input_dropout_rate``, 0.2, the share of genes hidden from the critic in each
    cell it scores, none in the paper; ``critic_dropout_rate``, 0, of its hidden layers;
    ``negative_slope``). The paper's
    networks are ``**michigan.module.PAPER_NETWORKS``.""",
    "gan_train_params": """\
max_epochs
    GAN epochs (passes of the critic over the cells). The paper trained 1000, on a GPU
    (``**michigan.train.PAPER_TRAINING``).
max_steps
    Generator steps (the critic takes ``n_critic`` steps per generator step). Without any
    budget: 4000 generator steps or ten minutes of wall time, whichever comes first.
max_time
    Wall-time budget: ``"DD:HH:MM:SS"`` (e.g. ``"00:00:10:00"``), a
    :class:`~datetime.timedelta` or a dict such as ``{"minutes": 10}``.
batch_size
    Cells per minibatch (at least 3).
n_critic
    Critic steps per generator step, each on a fresh minibatch (2; the paper's 5).
lr_generator, lr_critic
    Adam learning rates: 1e-4 and 4e-4 (two time-scales; the paper: one rate, around 1e-4
    to 5e-4).
betas
    Adam's ``(β₁, β₂)``.
gp_lambda
    Weight of the gradient penalty.
ema_decay
    Decay of the exponential moving average of the generator's weights that generates
    cells (0.99); ``None`` generates with the trained weights themselves, as the paper did.
monitor
    ``True``: a :class:`~michigan.train.RealismMonitor` with its defaults (the Fréchet
    distance of generated to real cells every 200 generator steps in
    ``history["frechet_distance"]``; the best generator is kept); a ``RealismMonitor`` to
    configure it (e.g. early stopping with ``patience=5``); ``False``: none.
extrapolation
    Use the extrapolation step of Yadav et al. (2018; their "prediction method", named by
    the MichiGAN paper, whose code ran plain Adam).
accelerator, devices
    Lightning's (e.g. ``accelerator="gpu", devices=2``).
plan_kwargs
    Passed to :class:`~michigan.train.WGANTrainingPlan` (override the arguments above).
datasplitter_kwargs
    Passed to :class:`~michigan.data.InMemoryDataSplitter`.
**trainer_kwargs
    Passed to the Lightning trainer (``strategy="ddp"``, ``callbacks``, ``ckpt_path``,
    ``enable_progress_bar``, ...).""",
    "metrics_real_generated": """\
real
    Real cells: an AnnData or an expression matrix (cells × genes, dense or sparse).
generated
    Generated cells over the same genes.""",
    "metrics_layer": """\
layer
    Layer of both AnnDatas to read (``None``: ``.X``).""",
    "metrics_codes_factors": """\
data
    An AnnData with the codes in ``.obsm[latent_key]``, or the codes (cells × latents, an
    array or a DataFrame).
factors
    ``.obs`` keys of ``data``, or the factor values (a DataFrame, Series or array with one
    row per cell).
latent_key
    ``.obsm`` key of the codes when ``data`` is an AnnData.""",
    "metrics_mutual_info_options": """\
posterior_var
    Posterior variances (cells × latents, or one per latent), or an ``.obsm`` key holding
    them; strongly advised for VAE codes. ``None`` scores the codes by binning.
n_bins
    Quantile bins of continuous factors (quartiles by default).
n_latent_bins
    Quantile bins of each latent for the binned estimator (``posterior_var=None``).
max_cells
    Cells used at most by the posterior-mixture estimator (a random subsample).
seed
    Seed of the subsample and of the posterior samples.""",
    "plot_ax": """\
ax
    Axes to draw on; a new figure otherwise.""",
    "plot_show_save": """\
show
    Show the figure (default: when the plot made its own and did not save it).
save
    File path to save to (its suffix picks the format), or ``True`` for
    ``{scanpy.settings.figdir}/<name of the function>.png``.""",
    "plot_returns": """\
The axes, unless shown.""",
    "plot_title_ax_show_save_returns": """\
title
    Axes title.
ax
    Axes to draw on; a new figure otherwise.
show
    Show the figure (default: when the plot made its own and did not save it).
save
    File path to save to (its suffix picks the format), or ``True`` for
    ``{scanpy.settings.figdir}/<name of the function>.png``.

Returns
-------
The axes, unless shown.""",
}


def insert_docs(obj: F) -> F:
    """Replace every ``%(name)s`` line of ``obj``'s docstring with the snippet ``name``.

    Examples
    --------
    >>> @insert_docs
    ... def plot(adata, layer=None, batch_key=None, labels_key=None, **kwargs):
    ...     '''Draw.
    ...
    ...     Parameters
    ...     ----------
    ...     %(setup_anndata_params)s
    ...     '''
    >>> "register_fields" in plot.__doc__
    True
    """
    doc = obj.__doc__
    if not doc:
        return obj
    lines = []
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith("%(") and stripped.endswith(")s"):
            name = stripped[2:-2]
            if name not in SNIPPETS:
                raise KeyError(f"unknown docstring snippet {name!r} in {obj.__qualname__}")
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + s if s else s for s in SNIPPETS[name].splitlines()]
        else:
            lines.append(line)
    obj.__doc__ = "\n".join(lines)
    return obj


def snippet(name: str) -> str:
    """The snippet ``name``, dedented (for tests and documentation tools)."""
    return inspect.cleandoc(SNIPPETS[name])
