"""Scores, tables and reg-mean figures of the leave-one-out prediction benchmark."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA

from ..metrics import r2_of_means, rf_error

#: The metric columns of :func:`~michigan.benchmark.leave_one_out`'s table, in order.
LEAVE_ONE_OUT_METRICS = ("r2_all", "r2_top100_de", "e_distance", "rf_error", "de_direction")


@dataclass
class HeldOutType:
    """What one held-out cell type is scored against (log-normalised expression).

    Attributes
    ----------
    name
        The held-out cell type.
    real
        Its real perturbed cells (never seen in training).
    control
        Its control cells (in the training data).
    de_index
        Column indices of the top DE genes (control vs real perturbed cells).
    pca
        PCA fitted on the training cells, for the E-distance.
    """

    name: str
    real: np.ndarray
    control: np.ndarray
    de_index: np.ndarray
    pca: PCA


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance ``2 E‖x − y‖ − E‖x − x'‖ − E‖y − y'‖`` (Euclidean) of two cell sets."""
    return float(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())


def score_prediction(
    predicted: np.ndarray,
    held_out: HeldOutType,
    *,
    seed: int,
    n_estimators: int = 100,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """The leave-one-out metrics of one method's predicted cells against the real ones."""
    de = held_out.de_index
    real_mean = held_out.real.mean(axis=0)
    predicted_mean = predicted.mean(axis=0)
    control_mean = held_out.control.mean(axis=0)
    right_direction = np.sign(predicted_mean[de] - control_mean[de]) == np.sign(
        real_mean[de] - control_mean[de]
    )
    return {
        "r2_all": r2_of_means(real_mean, predicted_mean),
        "r2_top100_de": r2_of_means(real_mean[de], predicted_mean[de]),
        "e_distance": energy_distance(
            held_out.pca.transform(predicted), held_out.pca.transform(held_out.real)
        ),
        "rf_error": rf_error(
            held_out.real, predicted, n_estimators=n_estimators, n_jobs=n_jobs, seed=seed
        ),
        "de_direction": float(right_direction.mean()),
    }


def leave_one_out_markdown(results: pd.DataFrame) -> str:
    """A markdown table: every held-out type × method, then the mean per method."""
    columns = ["held_out", "method", *LEAVE_ONE_OUT_METRICS]
    means = results.groupby("method", sort=False)[list(LEAVE_ONE_OUT_METRICS)].mean()
    means = means.reset_index().assign(held_out="mean")
    table = pd.concat([results[columns], means[columns]], ignore_index=True)
    lines = ["| " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(LEAVE_ONE_OUT_METRICS)]
    for row in table.itertuples(index=False):
        cells = [f"{value:.3f}" if isinstance(value, float) else str(value) for value in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def reg_mean_figure(
    predictions: dict[str, np.ndarray],
    held_out: HeldOutType,
    path: str | os.PathLike,
) -> Path:
    """Predicted against real mean expression per method; top DE genes in red."""
    import matplotlib.pyplot as plt

    methods = list(predictions)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.3), squeeze=False)
    real_mean = held_out.real.mean(axis=0)
    de = held_out.de_index
    for ax, method in zip(axes[0], methods, strict=True):
        predicted_mean = np.asarray(predictions[method]).mean(axis=0)
        ax.scatter(real_mean, predicted_mean, s=3, c="0.6", rasterized=True)
        ax.scatter(real_mean[de], predicted_mean[de], s=5, c="tab:red")
        top = max(real_mean.max(), predicted_mean.max())
        ax.plot([0, top], [0, top], lw=0.8, c="k")
        r2 = r2_of_means(real_mean[de], predicted_mean[de])
        ax.set_title(f"{method}\nR² top-{len(de)} DE {r2:.2f}", fontsize=9)
        ax.set_xlabel("real mean")
    axes[0][0].set_ylabel(f"predicted mean ({held_out.name}, perturbed)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def file_safe(name: str) -> str:
    """``name`` with every character but letters, digits and ``+-._`` replaced by ``_``."""
    return re.sub(r"[^\w+.-]", "_", name)
