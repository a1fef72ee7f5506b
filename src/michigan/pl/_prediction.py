"""Plots of latent-arithmetic predictions: UMAP of the groups (Fig. 6b) and reg-mean scatter."""

from __future__ import annotations

import os
from collections.abc import Sequence

from anndata import AnnData
from matplotlib.axes import Axes

from .._docs import insert_docs
from ..metrics import mean_expression, r2_of_means, top_de_genes
from ._embedding import ReferenceUMAP, reference_umap
from ._utils import finish, new_axes

#: Colours of the three groups (the paper's Fig. 6b: control, real, predicted).
GROUP_COLOURS = {"control": "#1f77b4", "real": "#ff7f0e", "predicted": "#2ca02c"}


@insert_docs
def prediction_umap(
    adata: AnnData,
    predicted: AnnData,
    *,
    real: AnnData | None = None,
    control: AnnData | None = None,
    embedding: ReferenceUMAP | None = None,
    layer: str | None = None,
    size: float = 10.0,
    background_size: float = 4.0,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
    **umap_kwargs,
) -> Axes | None:
    """Control, real and predicted cells on the UMAP of all real cells (the paper's Fig. 6b).

    A good prediction lands on the real held-out cells, away from the control cells.

    Parameters
    ----------
    adata
        All real cells (grey background), in the predicted cells' expression space.
    predicted
        Predicted cells (expression in ``.X``), e.g. from ``model.predict``.
    real
        The real held-out cells.
    control
        The control cells, e.g. those whose codes were shifted, or the target cell type
        without the perturbation.
    embedding
        A fitted :class:`ReferenceUMAP` of ``adata``; fitted here when ``None``.
    layer
        Layer of the real AnnDatas with the expression (``None``: ``.X``).
    size, background_size
        Marker sizes of the groups and of the background.
    title
        Axes title.
    %(plot_ax)s
    %(plot_show_save)s
    **umap_kwargs
        Passed to :func:`reference_umap` when ``embedding`` is ``None``.

    Returns
    -------
    %(plot_returns)s

    Examples
    --------
    >>> import michigan as mg
    >>> mg.pl.prediction_umap(
    ...     adata, predicted, real=held_out, control=ctrl, layer="log1p"
    ... )  # doctest: +SKIP
    """
    if embedding is None:
        embedding = reference_umap(adata, layer=layer, **umap_kwargs)
    own_figure = ax is None
    fig, ax = new_axes(ax)
    ax.scatter(
        *embedding.coordinates_of(adata, layer=layer).T,
        s=background_size,
        c="lightgrey",
        linewidths=0,
        rasterized=True,
    )
    groups = {"control": (control, layer), "real": (real, layer), "predicted": (predicted, None)}
    for name, (cells, cells_layer) in groups.items():
        if cells is None:
            continue
        coordinates = (
            embedding.transform(cells)
            if name == "predicted"
            else embedding.coordinates_of(cells, layer=cells_layer)
        )
        ax.scatter(
            *coordinates.T,
            s=size,
            c=GROUP_COLOURS[name],
            label=f"{name} ({cells.n_obs})",
            linewidths=0,
            alpha=0.8,
            rasterized=True,
        )
    ax.legend(frameon=False, fontsize="small", markerscale=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP1")
    ax.set_ylabel("UMAP2")
    if title is not None:
        ax.set_title(title)
    return finish(fig, ax, show=show, save=save, name="prediction_umap", own_figure=own_figure)


@insert_docs
def reg_mean(
    predicted: AnnData,
    real: AnnData,
    *,
    control: AnnData | None = None,
    genes: Sequence[str] | None = None,
    n_top_genes: int = 100,
    n_labels: int = 10,
    layer: str | None = None,
    predicted_layer: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | os.PathLike | bool | None = None,
) -> Axes | None:
    """Mean expression per gene, predicted against real, with R² (scGen's reg-mean plot).

    R² is the squared Pearson correlation of the means (``scipy.stats.linregress``), over all
    genes and over the highlighted genes: ``genes``, or the ``n_top_genes`` most
    differentially expressed between ``control`` and ``real``
    (:func:`~michigan.metrics.top_de_genes`); the first ``n_labels`` of them are named.

    Parameters
    ----------
    predicted
        Predicted cells (expression in ``.X``).
    real
        Real held-out cells, same genes and space.
    control
        Control cells that define the DE genes to highlight.
    genes
        Genes to highlight instead.
    n_top_genes
        DE genes highlighted when ``genes`` is ``None``.
    n_labels
        Highlighted genes named on the plot.
    layer
        Layer of ``real`` and ``control`` (``None``: ``.X``).
    predicted_layer
        Layer of ``predicted`` (``None``: ``.X``).
    %(plot_title_ax_show_save_returns)s

    Examples
    --------
    >>> import michigan as mg
    >>> mg.pl.reg_mean(predicted, held_out, control=ctrl, layer="log1p")  # doctest: +SKIP
    """
    real_means, real_genes = mean_expression(real, layer, "real")
    predicted_means, predicted_genes = mean_expression(predicted, predicted_layer, "predicted")
    if not real_genes.equals(predicted_genes):
        raise ValueError(
            "predicted and real cells list different genes; align them first, e.g. "
            "predicted[:, real.var_names]"
        )
    if genes is None and control is not None:
        genes = top_de_genes(control, real, n_top_genes, layer=layer)
    own_figure = ax is None
    fig, ax = new_axes(ax, figsize=(4.2, 4.0))
    ax.scatter(real_means, predicted_means, s=6, c="grey", alpha=0.6, linewidths=0)
    label = f"all genes: R² = {r2_of_means(real_means, predicted_means):.3f}"
    if genes is not None:
        index = real_genes.get_indexer(list(genes))
        if (index < 0).any():
            missing = [g for g, i in zip(genes, index, strict=True) if i < 0]
            raise ValueError(f"genes not among the real cells' genes: {missing[:5]}")
        ax.scatter(real_means[index], predicted_means[index], s=10, c="#d62728", linewidths=0)
        label += f"\n{len(index)} highlighted: R² = "
        label += f"{r2_of_means(real_means[index], predicted_means[index]):.3f}"
        for i in index[:n_labels]:
            ax.annotate(
                str(real_genes[i]),
                (real_means[i], predicted_means[i]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    upper = float(max(real_means.max(), predicted_means.max(), 0.0)) * 1.05 or 1.0
    ax.plot([0, upper], [0, upper], color="black", linewidth=0.6, linestyle="--")
    ax.text(0.03, 0.97, label, transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel("mean expression, real")
    ax.set_ylabel("mean expression, predicted")
    if title is not None:
        ax.set_title(title)
    return finish(fig, ax, show=show, save=save, name="reg_mean", own_figure=own_figure)
