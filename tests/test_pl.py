from __future__ import annotations

import sys
import types

import matplotlib

matplotlib.use("Agg")

import anndata
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import sparse
from sklearn.decomposition import PCA

import michigan as mg

PNG_MAGIC = b"\x89PNG"
N_GENES = 25


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def cells(n: int, shift: float = 0.0, seed: int = 0, prefix: str = "cell") -> AnnData:
    rng = np.random.default_rng(seed)
    x = np.log1p(rng.poisson(2.0 + shift * np.linspace(0, 1, N_GENES), size=(n, N_GENES)))
    return AnnData(
        x.astype(np.float32),
        obs=pd.DataFrame(index=[f"{prefix}{i}" for i in range(n)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(N_GENES)]),
    )


@pytest.fixture
def reference():
    real = cells(80)
    real.obs["cell_type"] = pd.Categorical(np.repeat(["a", "b"], 40))
    # A fast stand-in for UMAP: anything with fit_transform/transform works.
    embedding = mg.pl.reference_umap(real, n_pcs=10, reducer=PCA(n_components=2))
    return real, embedding


def traversal_cells(dim: int, n: int = 12) -> AnnData:
    generated = cells(n, shift=dim, seed=dim, prefix=f"gen{dim}_")
    generated.obs["traversal_value"] = np.linspace(-2, 2, n)
    generated.obs["traversal_dim"] = dim
    return generated


def assert_png(path) -> None:
    assert path.exists() and path.read_bytes()[:4] == PNG_MAGIC


def test_reference_embedding_places_reference_cells_where_they_were_fitted(reference):
    real, embedding = reference
    np.testing.assert_allclose(embedding.coordinates_of(real), embedding.coordinates)
    np.testing.assert_allclose(embedding.transform(real), embedding.coordinates, atol=1e-4)
    reordered = real[:, real.var_names[::-1]].copy()  # genes matched by name
    np.testing.assert_allclose(embedding.transform(reordered), embedding.coordinates, atol=1e-4)
    with pytest.raises(ValueError, match="genes of the reference are missing"):
        embedding.transform(real[:, :5])


def test_sparse_reference_stays_sparse_and_places_dense_cells(reference):
    real, dense_embedding = reference
    sparse_real = real.copy()
    sparse_real.X = sparse.csr_matrix(sparse_real.X)
    embedding = mg.pl.reference_umap(sparse_real, n_pcs=10, reducer=PCA(n_components=2))
    np.testing.assert_allclose(
        np.abs(embedding.transform(real)), np.abs(dense_embedding.coordinates), atol=1e-3
    )


def test_default_reducer_is_umap_learn(monkeypatch):
    fitted = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            fitted["kwargs"] = kwargs

        def fit_transform(self, x):
            return x[:, :2]

        def transform(self, x):
            return x[:, :2]

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    embedding = mg.pl.reference_umap(cells(30), n_pcs=5, seed=3, n_neighbors=7)
    assert fitted["kwargs"] == {"random_state": 3, "n_neighbors": 7}
    assert embedding.coordinates.shape == (30, 2)
    with pytest.raises(ValueError, match="umap_kwargs apply to the default UMAP"):
        mg.pl.reference_umap(cells(30), reducer=PCA(2), n_neighbors=7)


def test_traversal_draws_one_panel_per_latent_and_saves(reference, tmp_path):
    real, embedding = reference
    path = tmp_path / "traversal.png"
    axes = mg.pl.traversal(
        real,
        [traversal_cells(d) for d in range(3)],
        embedding=embedding,
        ncols=2,
        save=path,
        show=False,
    )
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == ["Z0", "Z1", "Z2"]
    # grey background of the 80 real cells, then the 12 generated cells coloured by value
    background, generated = axes[0].collections[:2]
    assert len(background.get_offsets()) == 80 and len(generated.get_offsets()) == 12
    np.testing.assert_allclose(generated.get_array(), np.linspace(-2, 2, 12))
    assert_png(path)
    # One AnnData holding several latents is split by its dim column.
    combined = anndata.concat([traversal_cells(d) for d in range(2)])
    assert len(mg.pl.traversal(real, combined, embedding=embedding, show=False)) == 2


def test_traversal_accepts_ax_and_checks_its_input(reference):
    real, embedding = reference
    _, ax = plt.subplots()
    returned = mg.pl.traversal(real, traversal_cells(1), embedding=embedding, ax=ax)
    assert returned is ax and len(ax.collections) == 2
    with pytest.raises(ValueError, match="pass 2 axes"):
        mg.pl.traversal(real, [traversal_cells(0), traversal_cells(1)], embedding=embedding, ax=ax)
    with pytest.raises(ValueError, match="value_key"):
        mg.pl.traversal(real, traversal_cells(0), embedding=embedding, value_key="z", ax=ax)


def test_latent_bars_draw_one_bar_per_latent_and_factor(tmp_path):
    scores = pd.DataFrame(
        np.random.default_rng(0).uniform(size=(6, 3)),
        index=[f"Z{i}" for i in range(6)],
        columns=pd.Index(["batch", "path", "step"], name="factor"),
    )
    path = tmp_path / "bars.png"
    ax = mg.pl.latent_bars(scores, save=path, show=False)
    assert len(ax.patches) == 18
    heights = sorted(p.get_height() for p in ax.patches)
    np.testing.assert_allclose(heights, np.sort(scores.to_numpy().ravel()))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["batch", "path", "step"]
    assert_png(path)
    _, own = plt.subplots()
    assert mg.pl.latent_bars(-scores, absolute=True, ax=own) is own
    assert min(p.get_height() for p in own.patches) >= 0
    with pytest.raises(ValueError, match="non-empty DataFrame"):
        mg.pl.latent_bars(pd.DataFrame())


def test_latent_bars_mark_collapsed_latents_by_position_or_label():
    scores = pd.DataFrame(
        np.random.default_rng(1).uniform(size=(4, 2)),
        index=[f"Z{i}" for i in range(4)],
        columns=["batch", "path"],
    )
    ax = mg.pl.latent_bars(scores, collapsed=np.array([1]), show=False)
    again = mg.pl.latent_bars(scores, collapsed=["Z1"], show=False)
    for axes in (ax, again):
        assert [t.get_text() for t in axes.get_xticklabels()] == ["Z0", "Z1 ×", "Z2", "Z3"]
        # bars are drawn factor by factor: latent 1 is the second bar of each factor
        hatched = [i for i, bar in enumerate(axes.patches) if bar.get_hatch()]
        assert hatched == [1, 5]
    for bad in ([4], ["Z9"], [-1]):
        with pytest.raises(ValueError, match="collapsed latent"):
            mg.pl.latent_bars(scores, collapsed=bad, show=False)


def test_prediction_umap_draws_the_three_groups(reference, tmp_path):
    real, embedding = reference
    control, held_out = real[:20], real[40:60]
    predicted = cells(15, shift=1.0, seed=9, prefix="pred")
    path = tmp_path / "prediction.png"
    ax = mg.pl.prediction_umap(
        real, predicted, real=held_out, control=control, embedding=embedding, save=path, show=False
    )
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["control (20)", "real (20)", "predicted (15)"]
    np.testing.assert_allclose(ax.collections[2].get_offsets(), embedding.coordinates[40:60])
    assert_png(path)
    _, own = plt.subplots()
    assert mg.pl.prediction_umap(real, predicted, embedding=embedding, ax=own) is own


def test_reg_mean_reports_r2_and_highlights_de_genes(tmp_path):
    real = cells(60, shift=3.0, seed=1)
    predicted = cells(50, shift=3.0, seed=2, prefix="pred")
    control = cells(60, seed=3, prefix="ctrl")
    path = tmp_path / "reg_mean.png"
    ax = mg.pl.reg_mean(predicted, real, control=control, n_top_genes=5, save=path, show=False)
    text = ax.texts[-1].get_text()
    r2 = mg.metrics.r2_of_means(real.X.mean(axis=0), predicted.X.mean(axis=0))
    assert f"all genes: R² = {r2:.3f}" in text and "5 highlighted" in text
    genes = mg.metrics.top_de_genes(control, real, 5)
    index = real.var_names.get_indexer(genes)
    np.testing.assert_allclose(
        ax.collections[1].get_offsets(),
        np.c_[real.X.mean(axis=0)[index], predicted.X.mean(axis=0)[index]],
        rtol=1e-5,
    )
    assert_png(path)
    _, own = plt.subplots()
    returned = mg.pl.reg_mean(predicted, real, genes=["g0", "g24"], n_labels=1, ax=own)
    assert returned is own and [t.get_text() for t in own.texts[:1]] == ["g0"]
    with pytest.raises(ValueError, match="not among the real cells' genes"):
        mg.pl.reg_mean(predicted, real, genes=["nope"], ax=own)
    with pytest.raises(ValueError, match="different genes"):
        mg.pl.reg_mean(predicted[:, ::-1], real, ax=own)


def test_save_true_writes_to_scanpy_figdir(tmp_path):
    import scanpy as sc

    figdir, sc.settings.figdir = sc.settings.figdir, tmp_path
    scores = pd.DataFrame({"f": [0.1, 0.5]}, index=["Z0", "Z1"])
    try:
        mg.pl.latent_bars(scores, save=True, show=False)
    finally:
        sc.settings.figdir = figdir
    assert_png(tmp_path / "latent_bars.png")
    assert mg.pl.latent_bars(scores, show=True) is None  # shown, as scanpy, returns nothing
