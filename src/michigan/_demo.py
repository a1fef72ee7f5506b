"""The main job on built-in data: what ``michigan demo`` runs."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._normalize import log_normalize

#: Layer of the demo's AnnData with the log-normalised expression (the GAN's space).
LOG1P_LAYER = "log1p"
#: Layer with each cell's generated counterpart.
GENERATED_LAYER = "michigan_generated"


@dataclass
class DemoOutputs:
    """Where the demo wrote what."""

    adata: Path
    umap: Path
    generated_umap: Path | None = None
    traversal: Path | None = None
    report: Path | None = None
    #: Random-forest error of real against generated cells (0.5: indistinguishable).
    rf_error: float | None = None

    #: Wall-clock and CPU seconds of each stage (also in ``.uns["demo_seconds"]``).
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record the wall-clock and CPU seconds (this process) of one stage."""
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.seconds[stage] = {
            "wall": round(time.perf_counter() - wall, 2),
            "cpu": round(time.process_time() - cpu, 2),
        }

    def described(self) -> list[tuple[Path, str]]:
        """Every file written, each with what it holds."""
        files = [
            (self.adata, "AnnData: codes in .obsm, generated cells in .layers"),
            (self.umap, "UMAP of the cells, coloured by cell type and by each latent"),
            (self.generated_umap, "UMAP of real and generated cells"),
            (self.traversal, "a latent traversal on the real cells' UMAP"),
            (self.report, "the report: open it in a browser"),
        ]
        return [(path, what) for path, what in files if path is not None]


def run_demo(
    out_dir: str | Path = "michigan_demo",
    max_epochs: int = 100,
    n_latent: int = 10,
    beta: float = 10.0,
    seed: int = 0,
    progress_bar: bool = True,
    max_epochs_gan: int | None = None,
    gan: bool = True,
    max_steps_gan: int = 1200,
) -> DemoOutputs:
    """Train MichiGAN on scanpy's ``pbmc68k_reduced`` and write its results.

    The main job in a few minutes on a 2-core CPU: a β-TCVAE, then MichiGAN's conditional
    WGAN-GP on its codes (``code_source="sample"``), one generated counterpart per real cell,
    a UMAP of real and generated cells, a latent traversal, and an HTML report that shows them.

    Parameters
    ----------
    out_dir
        Folder for the outputs (created if needed).
    max_epochs
        Training epochs of the β-TCVAE.
    n_latent
        Dimension of the representation.
    beta
        Weight of the total correlation.
    seed
        Seed of :data:`scvi.settings.seed`.
    progress_bar
        Show Lightning's progress bar.
    max_epochs_gan
        GAN epochs; when ``None`` (default) the GAN's budget is ``max_steps_gan``.
    gan
        Also train MichiGAN and write the generated cells, figures and report; ``False``
        stops after the β-TCVAE.
    max_steps_gan
        Generator steps of the GAN stage when ``max_epochs_gan`` is ``None`` (quality grows
        with generator steps, not epochs: the data set has 700 cells, so an epoch is only a
        few steps).

    Returns
    -------
    The paths of the ``.h5ad`` (codes in ``.obsm["X_tcvae"]`` and ``.obsm["X_michigan"]``,
    log-normalised expression in ``.layers["log1p"]``, generated counterparts in
    ``.layers["michigan_generated"]``), the UMAP coloured by the latents, the UMAP of real
    and generated cells, the traversal figure and ``report.html``.

    Examples
    --------
    >>> from michigan._demo import run_demo
    >>> outputs = run_demo("demo_out", max_epochs=20)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc
    import scvi

    from . import datasets, pl
    from .model import TCVAE

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scvi.settings.seed = seed
    outputs = DemoOutputs(adata=out / "pbmc68k_tcvae.h5ad", umap=out / "umap_latents.png")

    adata = datasets.pbmc68k()
    TCVAE.setup_anndata(adata, layer="counts")
    model = TCVAE(adata, n_latent=n_latent, beta=beta)
    with outputs.timed("β-TCVAE training"):
        model.train(max_epochs=max_epochs, enable_progress_bar=progress_bar)

    latent = model.get_latent_representation()
    adata.obsm["X_tcvae"] = latent
    adata.uns["tcvae"] = {"n_latent": n_latent, "beta": beta, "max_epochs": max_epochs}
    latent_columns = [f"tcvae_{j}" for j in range(n_latent)]
    for j, column in enumerate(latent_columns):
        adata.obs[column] = latent[:, j].astype(np.float32)

    counts = adata.layers["counts"]
    counts = np.asarray(counts.toarray() if hasattr(counts, "toarray") else counts, np.float32)
    adata.layers[LOG1P_LAYER] = log_normalize(counts)  # the GAN's space
    # One UMAP for every figure (a UMAP costs seconds, and its first one in a process also
    # compiles umap-learn's numba code): the real cells' log-normalised expression, on which
    # generated cells are placed later.
    with outputs.timed("UMAP and its figure"):
        reference = pl.reference_umap(adata, layer=LOG1P_LAYER, seed=seed)
        adata.obsm["X_umap"] = reference.coordinates
        colors = ["bulk_labels", *latent_columns]
        figure = sc.pl.umap(adata, color=colors, ncols=4, show=False, return_fig=True)
        figure.savefig(outputs.umap, dpi=80, bbox_inches="tight")
        plt.close(figure)

    if gan:
        budget = (
            {"max_steps": max_steps_gan}
            if max_epochs_gan is None
            else {"max_epochs": max_epochs_gan, "max_steps": None}
        )
        _michigan_stage(adata, model, reference, out, outputs, budget, seed, progress_bar)
    adata.uns["demo_seconds"] = outputs.seconds
    adata.write_h5ad(outputs.adata)
    if gan:
        _write_report(adata, outputs)
    return outputs


def _michigan_stage(
    adata, tcvae, reference, out: Path, outputs: DemoOutputs, budget: dict, seed, bar
):
    """Train MichiGAN on the β-TCVAE's codes; generate, place on the UMAP, traverse."""
    from .model import MichiGAN

    MichiGAN.setup_anndata(adata, layer="counts")
    model = MichiGAN(adata, representation=tcvae, code_source="sample")
    with outputs.timed("GAN training"):
        model.train(**budget, batch_size=64, enable_progress_bar=bar)
    with outputs.timed("generation, figures and metrics"):
        _generate_and_score(adata, model, reference, out, outputs, seed)


def _generate_and_score(adata, model, reference, out: Path, outputs: DemoOutputs, seed) -> None:
    """Generate a counterpart per cell; place them on the UMAP; traverse; score realism."""
    import matplotlib.pyplot as plt

    from . import metrics, pl

    adata.obsm["X_michigan"] = model.get_latent_representation()
    twins = model.generate(adata=adata, inplace=True, key_added=GENERATED_LAYER, seed=seed)
    twins.obs["bulk_labels"] = adata.obs["bulk_labels"].to_numpy()

    generated_xy = reference.transform(twins)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
    labels = adata.obs["bulk_labels"].astype("category")
    colours = plt.get_cmap("tab10")
    for ax, xy, title in zip(
        axes, (reference.coordinates, generated_xy), ("real cells", "generated cells"), strict=True
    ):
        ax.scatter(*reference.coordinates.T, s=3, c="lightgrey")
        for k, label in enumerate(labels.cat.categories):
            chosen = (labels == label).to_numpy()
            ax.scatter(*xy[chosen].T, s=6, color=colours(k % 10), label=label)
        ax.set_title(f"{title}, coloured by cell type (grey: all real cells)", fontsize=9)
        ax.set_xlabel("UMAP 1 (fitted on the real cells)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("UMAP 2")
    axes[1].legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    outputs.generated_umap = out / "umap_real_generated.png"
    figure.savefig(outputs.generated_umap, dpi=80, bbox_inches="tight")
    plt.close(figure)

    # the latent with the widest spread of posterior means (collapsed latents have none)
    dim = int(np.argmax(adata.obsm["X_michigan"].std(0)))
    path = model.traverse(cell=0, dim=dim, n_steps=20, n_samples_per_step=5, seed=seed)
    outputs.traversal = out / f"traversal_z{dim}.png"
    pl.traversal(adata, path, embedding=reference, layer=LOG1P_LAYER, save=outputs.traversal)
    plt.close("all")

    real = adata.layers[LOG1P_LAYER]
    real_means = real.mean(0)
    adata.uns["michigan"] = {
        "generator_steps": int(model.trainer.lightning_module.generator_steps),
        "frechet_distance": metrics.frechet_distance(real, twins.X, seed=seed),
        "zero_fraction_real": float((real == 0).mean()),
        "zero_fraction_generated": float((twins.X == 0).mean()),
        "code": "sample",
        "traversed_dim": dim,
        "rf_error": metrics.rf_error(adata.layers[LOG1P_LAYER], twins.X, seed=seed),
        "gene_mean_correlation": float(np.corrcoef(real_means, twins.X.mean(0))[0, 1]),
        "final_wasserstein": float(model.history["wasserstein_train"].iloc[-1, 0]),
    }
    # cell-type names hold "/", which an .h5ad key cannot: names and ratios as two lists
    coverage = metrics.label_coverage(real, twins.X, adata.obs["bulk_labels"], seed=seed)
    adata.uns["michigan"]["cell_type_coverage"] = {
        "cell_type": coverage.index.astype(str).tolist(),
        "ratio": coverage["ratio"].tolist(),
    }
    outputs.rf_error = adata.uns["michigan"]["rf_error"]


def coverage_reading(ratios: dict[str, float]) -> str:
    """A plain-language reading of how the generated cells spread over the real cell types.

    ``ratios`` maps each cell type to its share of the generated cells over its share of the
    real cells (:func:`michigan.metrics.label_coverage`).
    """
    missing = [label for label, ratio in ratios.items() if ratio == 0]
    if missing:
        return (
            f"WARNING: no generated cell falls among the real {', '.join(missing)} cells; the "
            "generator misses part of the data (train the GAN longer)"
        )
    least = min(ratios, key=ratios.get)
    return (
        f"generated cells fall among the real cells of every type ({len(ratios)} of "
        f"{len(ratios)}); the least covered, {least}, at {ratios[least]:.2f}× its real share"
    )


def realism_reading(rf_error: float) -> str:
    """A plain-language reading of the random-forest error of real against generated cells."""
    if rf_error >= 0.3:
        return "a classifier hardly tells generated from real cells: realistic"
    if rf_error >= 0.15:
        return "a classifier tells them apart often, not always: fairly realistic"
    return (
        "WARNING: a classifier tells generated from real cells apart almost always; train "
        "the GAN longer (more generator steps) before using its cells"
    )


def _write_report(adata, outputs: DemoOutputs) -> None:
    """A one-page HTML report of the run, next to its figures."""
    stats = adata.uns["michigan"]
    rows = {
        "cells × genes": f"{adata.n_obs:,} × {adata.n_vars:,}",
        "β-TCVAE": ", ".join(f"{k}={v}" for k, v in adata.uns["tcvae"].items()),
        "GAN generator steps": stats["generator_steps"],
        "Wasserstein estimate, last epoch": f"{stats['final_wasserstein']:.3f}",
        "random-forest error, real vs generated (0.5: indistinguishable)": (
            f"{stats['rf_error']:.3f}"
        ),
        "what the random-forest error says": realism_reading(stats["rf_error"]),
        "cell types reached (each generated cell takes its nearest real cell's type)": (
            coverage_reading(
                dict(
                    zip(
                        stats["cell_type_coverage"]["cell_type"],
                        stats["cell_type_coverage"]["ratio"],
                        strict=True,
                    )
                )
            )
        ),
        "Fréchet distance on 50 PCs, real vs generated (0: same first two moments)": (
            f"{stats['frechet_distance']:.1f}"
        ),
        "fraction of zeros, real / generated": (
            f"{stats['zero_fraction_real']:.3f} / {stats['zero_fraction_generated']:.3f}"
        ),
        "correlation of gene means, real vs generated": f"{stats['gene_mean_correlation']:.3f}",
        **_collapsed_row(adata),
        "seconds per stage, wall-clock / CPU of this process": "; ".join(
            f"{stage} {t['wall']:.0f} / {t['cpu']:.0f}" for stage, t in outputs.seconds.items()
        ),
    }
    table = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows.items()
    )
    figures = [
        (
            outputs.umap,
            "UMAP of the real cells' log-normalised expression, coloured by cell type and by "
            "each latent of the β-TCVAE.",
        ),
        (
            outputs.generated_umap,
            "Real cells and their generated counterparts (one per real cell, from its own "
            "code), on the UMAP of the real cells' log-normalised expression.",
        ),
        (
            outputs.traversal,
            f"Traversal of latent {stats['traversed_dim']} from the first cell's code: "
            "generated cells placed on the real cells' UMAP, coloured by the latent's value.",
        ),
    ]
    body = "".join(
        f'<figure><img src="{path.name}" style="max-width:100%"><figcaption>'
        f"{html.escape(caption)}</figcaption></figure>"
        for path, caption in figures
    )
    outputs.report = outputs.adata.parent / "report.html"
    outputs.report.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>michigan demo</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}th{text-align:left;"
        "padding-right:1em}</style></head><body><h1>MichiGAN on pbmc68k_reduced</h1>"
        f"<table>{table}</table>{body}<p>Data: <code>{html.escape(outputs.adata.name)}</code> "
        "(codes in <code>.obsm['X_michigan']</code>, generated counterparts in "
        "<code>.layers['michigan_generated']</code>).</p></body></html>",
        encoding="utf-8",
    )


def _collapsed_row(adata) -> dict[str, str]:
    """The report's line on latents that collapsed to the prior (see TCVAE.train)."""
    from .model import LATENT_ACTIVITY_KEY

    if LATENT_ACTIVITY_KEY not in adata.uns:
        return {}
    record = adata.uns[LATENT_ACTIVITY_KEY]
    collapsed = ", ".join(str(j) for j in record["collapsed"]) or "none"
    label = f"latents collapsed to the prior (KL < {record['kl_threshold']:g} nats)"
    return {label: f"{collapsed} (of {len(record['kl'])})"}
