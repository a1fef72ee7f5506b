"""``michigan.benchmark.leave_one_out``: predict each cell type's perturbed cells, held out."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._normalize import log_normalize
from .._validation import validate_obs_keys
from ..data import hold_out
from ..metrics import fit_pca, top_de_genes
from ._leave_one_out_report import (
    HeldOutType,
    file_safe,
    leave_one_out_markdown,
    reg_mean_figure,
    score_prediction,
)

logger = logging.getLogger(__name__)

#: The methods of :func:`leave_one_out`, in the order of its tables.
LEAVE_ONE_OUT_METHODS = (
    "MichiGAN",
    "β-TCVAE",
    "VAE",
    "scGen",
    "control unchanged",
    "mean shift",
)
#: Methods that train no model.
BASELINES = ("control unchanged", "mean shift")
#: Layer of the log-normalised expression (``log1p`` of counts scaled to 1e4 per cell).
LOG_LAYER = "log1p"
#: DE genes scored by ``r2_top100_de`` and ``de_direction``.
N_DE_GENES = 100


def leave_one_out(
    adata: AnnData,
    cell_type_key: str,
    perturbation_key: str,
    control: str,
    perturbed: str,
    out_dir: str | os.PathLike | None = None,
    *,
    cell_types: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    layer: str | None = "counts",
    n_top_genes: int | None = 2000,
    n_latent: int = 10,
    beta: float = 10.0,
    max_epochs_vae: int = 100,
    max_epochs_gan: int = 100,
    max_epochs_scgen: int = 100,
    batch_size_gan: int = 64,
    tcvae_kwargs: dict | None = None,
    gan_kwargs: dict | None = None,
    scgen_kwargs: dict | None = None,
    n_pcs: int = 50,
    n_estimators: int = 100,
    n_jobs: int | None = None,
    accelerator: str = "auto",
    prefix: str = "leave_one_out",
    progress_bar: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Hold out each cell type's perturbed cells in turn, predict them, and score the result.

    For every held-out type, its perturbed cells are removed (:func:`michigan.data.hold_out`);
    on the rest a β-TCVAE, MichiGAN on its sampled codes, a plain VAE (α = β = γ = 1) and,
    when ``pertpy`` imports, scGen are trained, and the held-out cells are predicted by
    scGen's arithmetic (``predict``'s default: the type's control cells shifted by the other
    types' perturbation effect in the code). The β-TCVAE and the VAE give cells drawn from
    their likelihoods (``expression="sample"``). Two baselines need no model: the type's
    control cells unchanged, and those cells plus the other types' mean perturbed-minus-control
    difference in log-normalised gene space, each type weighted once (``"mean shift"``).

    Everything is scored in log-normalised space (``log1p`` of counts scaled to 1e4 per cell)
    against the real held-out cells: ``r2_all`` and ``r2_top100_de``, the R² of mean
    expression over all genes and over the top-100 DE genes (control vs real perturbed cells
    of the type, Wilcoxon); ``e_distance``, the energy distance on PCs fitted on the training
    cells; ``rf_error``, the random-forest error of telling predicted from real cells (0.5:
    indistinguishable); ``de_direction``, the fraction of the top-100 DE genes whose predicted
    change from the control cells has the real change's sign.

    Parameters
    ----------
    adata
        Cells with raw counts (in ``layer``) and the two ``.obs`` columns; not changed.
    cell_type_key, perturbation_key
        Columns of ``adata.obs`` with each cell's type and perturbation.
    control, perturbed
        The control and the perturbed value of ``perturbation_key`` (Kang: ``"control"``
        and ``"stimulated"``).
    out_dir
        Folder to write ``{prefix}.csv`` (the returned table, after each held-out type),
        ``{prefix}.md`` (per type and the mean per method) and one reg-mean figure per type,
        ``{prefix}_reg_mean_{type}.png``; ``None`` writes nothing.
    cell_types
        Cell types to hold out in turn; by default every type with cells of both conditions.
    methods
        Names of :data:`LEAVE_ONE_OUT_METHODS`; all by default (scGen is skipped, with a
        logged warning, when ``pertpy`` does not import).
    layer
        Layer with the raw counts (``None``: ``.X``).
    n_top_genes
        Highly variable genes kept (chosen on all cells, log-normalised; scanpy's default
        flavour); ``None`` keeps every gene.
    n_latent, beta
        Latent width of every model and the total-correlation weight of the β-TCVAE.
    max_epochs_vae, max_epochs_gan, max_epochs_scgen
        Epochs of the β-TCVAE and the VAE, of MichiGAN's GAN and of scGen. On Kang, an epoch
        of the GAN is about 13 generator steps (27 minibatches of 64, two critic steps per
        generator step); 100 epochs, about 1,300 steps, is what the Kang table of
        ``docs/prediction.md`` was measured with (50 scored 0.866, 100 scored 0.897).
    batch_size_gan
        Minibatch size of MichiGAN's GAN.
    tcvae_kwargs, gan_kwargs
        Extra arguments of both VAEs (:class:`~michigan.TCVAE`, e.g. ``n_hidden``) and of
        :class:`~michigan.MichiGAN` (e.g. ``generator_hidden``).
    scgen_kwargs
        Arguments of pertpy's ``Scgen`` (e.g. ``n_hidden``, ``n_latent``). By default scGen
        gets ``n_latent`` like the other models; ``{}`` keeps scGen's own published sizes
        (800 hidden units, 100 latents).
    n_pcs
        Principal components of the E-distance.
    n_estimators, n_jobs
        Trees and parallel jobs of the random forests of ``rf_error``.
    accelerator
        Lightning's accelerator of every model.
    prefix
        Start of the output files' names.
    progress_bar
        Show a progress bar over the held-out types (scvi-tools' style); each type's scores
        are also logged at the ``INFO`` level (logger ``michigan.benchmark``).
    seed
        Seed of the models, the sampling and the metrics.

    Returns
    -------
    One row per held-out type × method: ``held_out``, ``method``, ``n_cells`` (real held-out
    cells) and the metrics ``r2_all``, ``r2_top100_de``, ``e_distance``, ``rf_error``,
    ``de_direction``.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.kang_pbmc("kang_pbmc_ifnb_scgen_valid.h5ad")  # doctest: +SKIP
    >>> results = mg.benchmark.leave_one_out(
    ...     adata, "cell_type", "condition", "control", "stimulated", out_dir="kang_loo"
    ... )  # doctest: +SKIP
    >>> results.groupby("method")["r2_top100_de"].mean()  # doctest: +SKIP
    """
    methods = _check_methods(methods)
    keys = (cell_type_key, perturbation_key, control, perturbed)
    candidates = _types_with_both(adata, *keys, layer)
    cell_types = _check_cell_types(cell_types, candidates, control, perturbed)
    data = _log_normalised_hvgs(adata, layer, n_top_genes)
    logger.info(
        "leave-one-out: %d cells × %d genes; held out in turn: %s",
        data.n_obs,
        data.n_vars,
        ", ".join(cell_types),
    )
    settings = _fold_settings(
        n_latent=n_latent,
        beta=beta,
        max_epochs_vae=max_epochs_vae,
        max_epochs_gan=max_epochs_gan,
        max_epochs_scgen=max_epochs_scgen,
        batch_size_gan=batch_size_gan,
        tcvae_kwargs=tcvae_kwargs,
        gan_kwargs=gan_kwargs,
        scgen_kwargs=scgen_kwargs,
        accelerator=accelerator,
        seed=seed,
    )
    folder = None if out_dir is None else Path(out_dir)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    from scvi.utils import track

    rows = []
    for cell_type in track(cell_types, description="held out", disable=not progress_bar):
        train, held = hold_out(data, cell_type_key, perturbation_key, [(cell_type, perturbed)])
        logger.info("%s: %d training cells, %d held out", cell_type, train.n_obs, held.n_obs)
        held_out = _held_out_type(train, held, cell_type, keys, n_pcs, seed)
        predictions = _predictions(train, held, cell_type, keys, methods, settings)
        for method, predicted in predictions.items():
            scores = score_prediction(
                predicted, held_out, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
            )
            rows.append({"held_out": cell_type, "method": method, "n_cells": held.n_obs, **scores})
            logger.info("  %s: R² top-100 DE %.3f", method, scores["r2_top100_de"])
        if folder is not None:  # partial results survive an interrupted run
            pd.DataFrame(rows).to_csv(folder / f"{prefix}.csv", index=False)
            figure = folder / f"{prefix}_reg_mean_{file_safe(cell_type)}.png"
            reg_mean_figure(predictions, held_out, figure)
    results = pd.DataFrame(rows)
    if folder is not None:
        (folder / f"{prefix}.md").write_text(leave_one_out_markdown(results))
    return results


def mean_shift(
    log_expression: np.ndarray,
    cell_types: np.ndarray,
    perturbations: np.ndarray,
    cell_type: str,
    control: str,
    perturbed: str,
) -> np.ndarray:
    """``cell_type``'s control cells plus the other types' mean perturbation effect.

    The effect of each other type seen under both conditions is its mean perturbed minus its
    mean control expression; the effects are averaged with equal weights. No cell of
    ``cell_type`` other than its control cells is read.
    """
    effects = []
    for other in pd.unique(cell_types):
        if other == cell_type:
            continue
        is_perturbed = (cell_types == other) & (perturbations == perturbed)
        is_control = (cell_types == other) & (perturbations == control)
        if is_perturbed.any() and is_control.any():
            effects.append(
                log_expression[is_perturbed].mean(axis=0) - log_expression[is_control].mean(axis=0)
            )
    if not effects:
        raise ValueError(
            f"no cell type other than {cell_type!r} has both {control!r} and {perturbed!r} "
            "cells; the mean shift needs at least one"
        )
    source = (cell_types == cell_type) & (perturbations == control)
    return log_expression[source] + np.mean(effects, axis=0)


#: The arguments of :func:`leave_one_out` that set how every held-out type is trained.
_SETTING_NAMES = (
    "n_latent",
    "beta",
    "max_epochs_vae",
    "max_epochs_gan",
    "max_epochs_scgen",
    "batch_size_gan",
    "tcvae_kwargs",
    "gan_kwargs",
    "scgen_kwargs",
    "accelerator",
    "seed",
)


def _fold_settings(**arguments) -> dict:
    """The training settings of every held-out type, from :func:`leave_one_out`'s arguments.

    An argument not given takes :func:`leave_one_out`'s default (read from its signature, so
    the two cannot drift apart).
    """
    unknown = set(arguments) - set(_SETTING_NAMES)
    if unknown:
        raise TypeError(f"unknown leave-one-out settings: {', '.join(sorted(unknown))}")
    parameters = inspect.signature(leave_one_out).parameters
    settings = {name: arguments.get(name, parameters[name].default) for name in _SETTING_NAMES}
    for name in ("tcvae_kwargs", "gan_kwargs"):
        settings[name] = dict(settings[name] or {})
    scgen_kwargs = settings["scgen_kwargs"]
    settings["scgen_kwargs"] = (
        {"n_latent": settings["n_latent"]} if scgen_kwargs is None else dict(scgen_kwargs)
    )
    return settings


def _prediction_request(keys: tuple[str, str, str, str], cell_type: str, n_cells: int, seed: int):
    """The ``predict()`` arguments of ``cell_type`` under the perturbation."""
    cell_type_key, perturbation_key, control, perturbed = keys
    return {
        "cell_type_key": cell_type_key,
        "perturbation_key": perturbation_key,
        "target": (cell_type, perturbed),
        "control_perturbation": control,
        "n_cells": n_cells,
        "seed": seed,
    }


def _fit_fold_models(
    train: AnnData, methods: list[str], settings: dict, gan_train_kwargs: dict | None = None
) -> dict:
    """The trained models of one held-out type: ``"β-TCVAE"``, ``"MichiGAN"``, ``"VAE"``.

    Only those ``methods`` need; in this order, each seeded with ``settings["seed"]`` as
    :func:`leave_one_out` trains them. ``gan_train_kwargs`` go to MichiGAN's ``train()``
    (e.g. a ``monitor``).
    """
    import scvi

    from ..model import TCVAE, MichiGAN

    train_kwargs = {"enable_progress_bar": False, "accelerator": settings["accelerator"]}
    vae_kwargs = {"n_latent": settings["n_latent"], **settings["tcvae_kwargs"]}
    models = {}
    if "MichiGAN" in methods or "β-TCVAE" in methods:
        scvi.settings.seed = settings["seed"]
        TCVAE.setup_anndata(train, layer="counts")
        models["β-TCVAE"] = TCVAE(train, beta=settings["beta"], **vae_kwargs)
        models["β-TCVAE"].train(max_epochs=settings["max_epochs_vae"], **train_kwargs)
    if "MichiGAN" in methods:
        MichiGAN.setup_anndata(train, layer="counts")
        models["MichiGAN"] = MichiGAN(
            train, representation=models["β-TCVAE"], code_source="sample", **settings["gan_kwargs"]
        )
        models["MichiGAN"].train(
            max_epochs=settings["max_epochs_gan"],
            batch_size=settings["batch_size_gan"],
            **train_kwargs,
            **(gan_train_kwargs or {}),
        )
    if "VAE" in methods:
        scvi.settings.seed = settings["seed"]
        TCVAE.setup_anndata(train, layer="counts")
        models["VAE"] = TCVAE(train, **{**vae_kwargs, "alpha": 1.0, "beta": 1.0, "gamma": 1.0})
        models["VAE"].train(max_epochs=settings["max_epochs_vae"], **train_kwargs)
    return models


def _predictions(
    train: AnnData,
    held: AnnData,
    cell_type: str,
    keys: tuple[str, str, str, str],
    methods: list[str],
    settings: dict,
) -> dict[str, np.ndarray]:
    """Every method's predicted cells of ``cell_type`` under the perturbation (log scale)."""
    cell_type_key, perturbation_key, control, perturbed = keys
    request = _prediction_request(keys, cell_type, held.n_obs, settings["seed"])
    models = _fit_fold_models(train, methods, settings)
    cell_types = train.obs[cell_type_key].to_numpy()
    perturbations = train.obs[perturbation_key].to_numpy()
    log_expression = _dense(train.layers[LOG_LAYER])
    predictions = {}
    for method in methods:
        if method == "MichiGAN":
            predictions[method] = _dense(models[method].predict(**request).X)
        elif method in ("β-TCVAE", "VAE"):
            predictions[method] = _dense(models[method].predict(**request, expression="sample").X)
        elif method == "scGen":
            scgen = _scgen(train, cell_type, keys, settings)
            if scgen is not None:
                predictions[method] = scgen
        elif method == "control unchanged":
            predictions[method] = log_expression[
                (cell_types == cell_type) & (perturbations == control)
            ]
        elif method == "mean shift":
            predictions[method] = mean_shift(
                log_expression, cell_types, perturbations, cell_type, control, perturbed
            )
    return predictions


def _scgen(train: AnnData, cell_type: str, keys: tuple, settings: dict) -> np.ndarray | None:
    """The scGen of pertpy on the log-normalised training cells, or ``None`` without pertpy."""
    try:
        import pertpy as pt
    except ImportError as error:
        logger.warning("scGen skipped: pertpy does not import (%s)", error)
        return None
    import scvi

    cell_type_key, perturbation_key, control, perturbed = keys
    data = AnnData(
        _dense(train.layers[LOG_LAYER]), obs=train.obs[[cell_type_key, perturbation_key]].copy()
    )
    data.var_names = train.var_names
    scvi.settings.seed = settings["seed"]
    pt.tl.Scgen.setup_anndata(data, batch_key=perturbation_key, labels_key=cell_type_key)
    model = pt.tl.Scgen(data, **settings["scgen_kwargs"])
    model.train(
        max_epochs=settings["max_epochs_scgen"],
        batch_size=32,
        early_stopping=True,
        accelerator=settings["accelerator"],
        enable_progress_bar=False,
    )
    predicted, _ = model.predict(
        ctrl_key=control, stim_key=perturbed, celltype_to_predict=cell_type
    )
    return _dense(predicted.X)


def _held_out_type(
    train: AnnData, held: AnnData, cell_type: str, keys: tuple, n_pcs: int, seed: int
) -> HeldOutType:
    cell_type_key, perturbation_key, control, _ = keys
    is_control = (train.obs[cell_type_key] == cell_type) & (train.obs[perturbation_key] == control)
    control_cells = train[is_control.to_numpy()]
    de_genes = top_de_genes(control_cells, held, N_DE_GENES, layer=LOG_LAYER)
    return HeldOutType(
        name=str(cell_type),
        real=_dense(held.layers[LOG_LAYER]),
        control=_dense(control_cells.layers[LOG_LAYER]),
        de_index=train.var_names.get_indexer(de_genes),
        pca=fit_pca(train.layers[LOG_LAYER], n_pcs, seed),
    )


def _log_normalised_hvgs(adata: AnnData, layer: str | None, n_top_genes: int | None) -> AnnData:
    """A copy with the counts in ``.layers["counts"]`` and ``.X``, their ``log1p`` in a layer."""
    counts = adata.X if layer is None else adata.layers[layer]
    counts = sparse.csr_matrix(counts, dtype=np.float32)
    log_expression = log_normalize(counts)
    genes = np.arange(adata.n_vars)
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        import scanpy as sc

        scout = AnnData(log_expression, var=pd.DataFrame(index=adata.var_names))
        sc.pp.highly_variable_genes(scout, n_top_genes=n_top_genes)
        genes = np.flatnonzero(scout.var["highly_variable"].to_numpy())
    data = AnnData(counts[:, genes], obs=adata.obs.copy(), var=adata.var.iloc[genes].copy())
    data.layers["counts"] = data.X.copy()
    data.layers[LOG_LAYER] = log_expression[:, genes]
    return data


def _check_methods(methods: Sequence[str] | None) -> list[str]:
    if methods is None:
        return list(LEAVE_ONE_OUT_METHODS)
    methods = [methods] if isinstance(methods, str) else list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in LEAVE_ONE_OUT_METHODS]
    if unknown or not methods:
        raise ValueError(
            f"unknown or no method(s) {unknown}; choose from {', '.join(LEAVE_ONE_OUT_METHODS)}"
        )
    return methods


def _types_with_both(
    adata: AnnData,
    cell_type_key: str,
    perturbation_key: str,
    control: str,
    perturbed: str,
    layer: str | None,
) -> list[str]:
    """Check the data; the cell types with both control and perturbed cells (at least two)."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData, got {type(adata).__name__}")
    validate_obs_keys(adata, [cell_type_key, perturbation_key])
    if layer is not None and layer not in adata.layers:
        raise ValueError(
            f"adata has no layer {layer!r} (layers: {list(adata.layers)}); pass the layer "
            "with the raw counts, or layer=None for .X"
        )
    labels = adata.obs[cell_type_key].astype(str).to_numpy()
    conditions = adata.obs[perturbation_key].astype(str).to_numpy()
    for value in (control, perturbed):
        if not (conditions == value).any():
            raise ValueError(
                f"{value!r} does not occur in adata.obs[{perturbation_key!r}] (values: "
                f"{', '.join(map(repr, pd.unique(conditions)[:20]))})"
            )
    both = [
        t
        for t in sorted(pd.unique(labels))
        if ((labels == t) & (conditions == control)).any()
        and ((labels == t) & (conditions == perturbed)).any()
    ]
    if len(both) < 2:
        raise ValueError(
            f"leave-one-out needs at least two cell types with both {control!r} and "
            f"{perturbed!r} cells; found {both}"
        )
    return both


def _check_cell_types(
    cell_types: Sequence[str] | None, candidates: list[str], control: str, perturbed: str
) -> list[str]:
    if cell_types is None:
        return candidates
    chosen = [cell_types] if isinstance(cell_types, str) else list(cell_types)
    missing = [t for t in chosen if t not in candidates]
    if missing or not chosen:
        raise ValueError(
            f"cell type(s) {missing} have no {control!r} or no {perturbed!r} cells (or none "
            f"were named); choose from {', '.join(candidates)}"
        )
    return list(dict.fromkeys(chosen))


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sparse.issparse(matrix) else matrix, dtype=np.float64)
