"""Scores of one method's output: disentanglement of its codes, quality of its cells."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..metrics import largest_gaps
from ..model import latent_activity_table
from ._methods import BenchmarkData, MethodOutput

#: Metrics of the codes of real cells (encoders); ``active_latents`` counts the latents not
#: collapsed to the prior, for the methods with a posterior.
DISENTANGLEMENT_METRICS = ("mig", "spearman_gap", "factorvae_score", "active_latents")
#: Metrics of generated cells; ``knn_spearman_gap`` correlates the codes of generated cells
#: with their kNN-predicted factors.
GENERATION_METRICS = (
    "knn_spearman_gap",
    "frechet_distance",
    "rf_error",
    "gene_mean_r",
    "gene_sd_r",
    "gene_mean_rmse",
    "zero_fraction_mae",
    "inception_score",
)


def score_method(
    output: MethodOutput,
    data: BenchmarkData,
    *,
    labels_key: str | None = None,
    seed: int = 0,
    n_estimators: int = 100,
    n_jobs: int | None = None,
) -> tuple[dict[str, float], list[pd.DataFrame]]:
    """Every metric that applies to a method's output.

    Parameters
    ----------
    output
        What the method returned.
    data
        The run's cells.
    labels_key
        ``.obs`` column of cell types for the inception score (``None``: not scored).
    seed
        Seed of the metrics' subsamples.
    n_estimators
        Trees of the random forests (random-forest error, inception score).
    n_jobs
        Parallel jobs of the random forests.

    Returns
    -------
    The scalar scores by metric name, and per-latent tables (long format: ``kind``,
    ``latent``, ``factor``, ``value``) for the figures; for methods with a posterior, kind
    ``latent_activity`` holds each latent's mean KL to the prior (factor ``kl``, nats) and
    whether it collapsed (factor ``collapsed``, 0 or 1), and the scalar ``active_latents``
    counts those that did not.

    Examples
    --------
    >>> scores, per_latent = score_method(output, data, seed=0)  # doctest: +SKIP
    """
    factors = data.adata.obs[list(data.factors)]
    scores: dict[str, float] = {}
    per_latent: list[pd.DataFrame] = []
    if output.codes is not None:
        information = metrics.mutual_info(
            output.codes, factors, posterior_var=output.posterior_var, seed=seed
        )
        scores["mig"] = float(largest_gaps(information).mean())
        rho = metrics.spearman_correlation(output.codes, factors)
        scores["spearman_gap"] = float(largest_gaps(rho.abs()).mean())
        if len(data.factors) > 1:
            scores["factorvae_score"] = metrics.factorvae_score(output.codes, factors, seed=seed)
        per_latent += [_long(information, "mutual_info"), _long(rho, "spearman")]
        if output.posterior_var is not None:
            activity = latent_activity_table(output.codes, output.posterior_var)
            activity = activity[["kl", "collapsed"]].astype(float)
            per_latent.append(_long(activity, "latent_activity"))
            scores["active_latents"] = float((activity["collapsed"] == 0).sum())
    if output.generated is None:
        return scores, per_latent
    real, generated = data.log_expression, output.generated
    if output.generated_codes is not None:
        predicted = metrics.knn_factor_prediction(real, generated, factors, seed=seed)
        rho = _code_factor_correlation(output.generated_codes, predicted)
        scores["knn_spearman_gap"] = float(largest_gaps(rho.abs()).mean())
        per_latent.append(_long(rho, "knn_spearman"))
    scores["frechet_distance"] = metrics.frechet_distance(real, generated, seed=seed)
    scores["rf_error"] = metrics.rf_error(
        real, generated, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
    )
    fidelity = metrics.gene_fidelity(real, generated)
    scores["gene_mean_r"] = float(fidelity.loc["mean", "pearson_r"])
    scores["gene_sd_r"] = float(fidelity.loc["sd", "pearson_r"])
    scores["gene_mean_rmse"] = float(fidelity.loc["mean", "rmse"])
    scores["zero_fraction_mae"] = float(fidelity.loc["zero_fraction", "mae"])
    if labels_key is not None:
        scores["inception_score"] = metrics.inception_score(
            real,
            generated,
            data.adata.obs[labels_key].to_numpy(),
            seed=seed,
            n_estimators=n_estimators,
            n_jobs=n_jobs,
        )[0]
    return scores, per_latent


def real_split_scores(
    data: BenchmarkData,
    *,
    labels_key: str | None = None,
    seed: int = 0,
    n_estimators: int = 100,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """Generation metrics of one random half of the real cells against the other: the floor."""
    order = np.random.default_rng(seed).permutation(data.log_expression.shape[0])
    half_a, half_b = np.array_split(order, 2)
    real, other = data.log_expression[half_a], data.log_expression[half_b]
    scores = {
        "frechet_distance": metrics.frechet_distance(real, other, seed=seed),
        "rf_error": metrics.rf_error(
            real, other, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
        ),
    }
    fidelity = metrics.gene_fidelity(real, other)
    scores["gene_mean_r"] = float(fidelity.loc["mean", "pearson_r"])
    scores["gene_sd_r"] = float(fidelity.loc["sd", "pearson_r"])
    scores["gene_mean_rmse"] = float(fidelity.loc["mean", "rmse"])
    scores["zero_fraction_mae"] = float(fidelity.loc["zero_fraction", "mae"])
    if labels_key is not None:
        labels = data.adata.obs[labels_key].to_numpy()[half_a]
        scores["inception_score"] = metrics.inception_score(
            real, other, labels, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
        )[0]
    return scores


def _code_factor_correlation(codes: np.ndarray, predicted: pd.DataFrame) -> pd.DataFrame:
    """Spearman ρ of codes with predicted factors; 0 for a factor predicted constant."""
    varying = [name for name, column in predicted.items() if column.nunique() > 1]
    rho = pd.DataFrame(
        0.0, index=[f"latent_{i}" for i in range(codes.shape[1])], columns=predicted.columns
    )
    if varying:
        values = metrics.spearman_correlation(codes, predicted[varying])
        rho.loc[:, varying] = values.to_numpy()
    return rho


def _long(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = table.copy()
    frame.index = [str(i) for i in frame.index]
    frame.index.name = "latent"
    frame.columns = [str(c) for c in frame.columns]
    frame.columns.name = "factor"
    long = frame.stack().rename("value").reset_index()
    long.insert(0, "kind", kind)
    return long
