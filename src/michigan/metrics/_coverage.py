"""Which groups of real cells (clusters, cell types) the generated cells reach, and how often."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from anndata import AnnData
from sklearn.neighbors import NearestNeighbors

from .._docs import insert_docs
from ._utils import fit_pca, matched_expression, resolve_real_labels

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@insert_docs
def label_coverage(
    real: AnnData | ArrayLike,
    generated: AnnData | ArrayLike,
    labels: str | ArrayLike,
    *,
    layer: str | None = None,
    n_pcs: int = 50,
    seed: int = 0,
) -> pd.DataFrame:
    """Share of the generated cells that fall in each labelled group of real cells.

    Each generated cell takes the label of its nearest real cell on ``n_pcs`` principal
    components of the real cells; a group's **generated share** is the fraction of generated
    cells it takes, next to its **real share** of the real cells. A generator that covers every
    cluster has a ratio near 1 for every group; mode collapse leaves groups at 0.

    Parameters
    ----------
    %(metrics_real_generated)s
    labels
        One label per real cell (cluster, cell type), or an ``.obs`` key of ``real``.
    %(metrics_layer)s
    n_pcs
        Principal components of the real cells the neighbours are found on.
    seed
        Seed of the PCA.

    Returns
    -------
    One row per label, sorted by ``ratio``: ``real_share``, ``generated_share`` and ``ratio``
    (generated / real share).

    Examples
    --------
    >>> import numpy as np
    >>> import michigan as mg
    >>> rng = np.random.default_rng(0)
    >>> real = np.vstack([rng.normal(size=(100, 5)), rng.normal(8.0, size=(100, 5))])
    >>> labels = ["a"] * 100 + ["b"] * 100
    >>> collapsed = rng.normal(size=(200, 5))  # every generated cell in group "a"
    >>> mg.metrics.label_coverage(real, collapsed, labels)["ratio"].round(2).to_dict()
    {'b': 0.0, 'a': 2.0}
    """
    real_matrix, gen_matrix = matched_expression(real, generated, layer)
    real_labels = resolve_real_labels(real, labels, real_matrix.shape[0])
    pca = fit_pca(real_matrix, n_pcs, seed)
    neighbours = NearestNeighbors(n_neighbors=1).fit(pca.transform(real_matrix))
    nearest = neighbours.kneighbors(pca.transform(gen_matrix), return_distance=False)[:, 0]
    real_share = real_labels.value_counts(normalize=True)
    generated_share = (
        real_labels.iloc[nearest]
        .value_counts(normalize=True)
        .reindex(real_share.index, fill_value=0.0)
    )
    table = pd.DataFrame({"real_share": real_share, "generated_share": generated_share})
    table["ratio"] = table["generated_share"] / table["real_share"]
    table.index.name = "label"
    return table.sort_values("ratio", kind="stable")
