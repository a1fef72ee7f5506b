from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pooch
import pytest
import requests
import scipy.sparse as sp

from michigan import datasets

KANG_FILE = "kang_pbmc_ifnb_scgen_valid.h5ad"
PANCREAS_FILE = "pancreas_endocrinogenesis_739.h5ad"


def _assert_integer_counts(adata: ad.AnnData) -> None:
    assert sp.issparse(adata.X) and adata.X.format == "csr"
    assert np.issubdtype(adata.X.dtype, np.integer) and adata.X.data.min() >= 0
    assert (adata.layers["counts"] != adata.X).nnz == 0
    assert adata.layers["counts"] is not adata.X


def _counts(n_cells: int = 12, n_genes: int = 8, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.poisson(2.0, (n_cells, n_genes)).astype(np.float32))


def _write(tmp_path, adata: ad.AnnData, name: str = "data.h5ad"):
    file = tmp_path / name
    adata.write_h5ad(file)
    return file


# --- the small real sets beside the checkout ----------------------------------------------


def test_kang_pbmc_reads_the_scgen_subset(shared_data_dir):
    adata = datasets.kang_pbmc(shared_data_dir / KANG_FILE)
    original = ad.read_h5ad(shared_data_dir / KANG_FILE)
    assert adata.shape == (1_975, 6_998)
    _assert_integer_counts(adata)
    np.testing.assert_array_equal(adata.X.toarray(), original.X.toarray())
    assert set(adata.obs["condition"]) == {"control", "stimulated"}
    assert (adata.obs["condition"] == "stimulated").sum() == 1_039
    assert adata.obs["cell_type"].nunique() == 7
    assert "log_norm_scgen" in adata.layers and "X_umap" in adata.obsm


def test_pancreas_reads_the_spliced_counts_and_clusters(shared_data_dir):
    adata = datasets.pancreas(shared_data_dir / PANCREAS_FILE)
    assert adata.shape == (739, 7_192)
    _assert_integer_counts(adata)
    assert (adata.X != sp.csr_matrix(adata.layers["spliced"], dtype=np.int32)).nnz == 0
    assert adata.obs["clusters"].nunique() == 8
    assert "Ngn3 high EP" in set(adata.obs["clusters"])
    assert "unspliced" in adata.layers


def test_pbmc68k_rebuilds_integer_counts_from_scanpys_copy():
    adata = datasets.pbmc68k()
    assert adata.shape == (700, 765)
    _assert_integer_counts(adata)
    counts = adata.X.toarray().astype(float)
    n_counts = adata.obs["n_counts"].to_numpy()[:, None]
    # the counts reproduce scanpy's log-normalised values
    rebuilt_log = np.log1p(counts / n_counts * 1e4)
    np.testing.assert_allclose(rebuilt_log, adata.layers["logcounts"].toarray(), atol=1e-3)
    totals = counts.sum(axis=1)
    assert np.all(totals > 0) and np.all(totals < n_counts.ravel())  # 765 of all genes
    assert {"bulk_labels", "louvain", "n_counts"} <= set(adata.obs.columns)
    assert adata.obs["bulk_labels"].nunique() == 10


# --- files written here -------------------------------------------------------------------


def test_counts_are_found_in_a_counts_layer_when_x_is_log_normalised(tmp_path):
    counts = _counts()
    adata = ad.AnnData(X=sp.csr_matrix(np.log1p(counts.toarray())))
    adata.layers["counts"] = counts
    adata.obs["label"] = ["ctrl", "stim"] * 6
    adata.obs["cell_type"] = "B"
    loaded = datasets.kang_pbmc(_write(tmp_path, adata))
    _assert_integer_counts(loaded)
    np.testing.assert_array_equal(loaded.X.toarray(), counts.toarray())
    assert loaded.obs["condition"].tolist() == ["control", "stimulated"] * 6


def test_counts_are_found_in_raw_with_the_raw_genes(tmp_path):
    counts = _counts(n_genes=10)
    full = ad.AnnData(X=counts)
    full.obs["clusters"] = "Ductal"
    full.raw = full.copy()
    subset = full[:, :4].copy()
    subset.X = sp.csr_matrix(np.log1p(subset.X.toarray()))
    loaded = datasets.pancreas(_write(tmp_path, subset))
    assert loaded.shape == (12, 10)
    np.testing.assert_array_equal(loaded.X.toarray(), counts.toarray())


def test_a_folder_is_searched_for_the_expected_file_name(tmp_path):
    adata = ad.AnnData(X=_counts())
    adata.obs["clusters"] = "Alpha"
    _write(tmp_path, adata, "endocrinogenesis_day15.h5ad")
    assert datasets.pancreas(tmp_path).n_obs == 12


def test_a_file_without_counts_is_refused(tmp_path):
    adata = ad.AnnData(X=np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    adata.obs["clusters"] = "Beta"
    with pytest.raises(ValueError, match=r"holds no raw counts.*layers\['counts'\]"):
        datasets.pancreas(_write(tmp_path, adata))


def test_a_missing_file_names_the_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*figshare.*kang_pbmc\(path="):
        datasets.kang_pbmc(tmp_path / "absent.h5ad")


def test_a_file_that_is_not_h5ad_is_refused(tmp_path):
    file = tmp_path / "notes.h5ad"
    file.write_text("not an h5ad")
    with pytest.raises(ValueError, match=r"not a readable \.h5ad"):
        datasets.pancreas(file)


def test_a_missing_annotation_is_named(tmp_path):
    adata = ad.AnnData(X=_counts())
    adata.obs["condition"] = "control"
    with pytest.raises(ValueError, match=r"'cell_type'.*its columns are \['condition'\]"):
        datasets.kang_pbmc(_write(tmp_path, adata))


def test_tabula_muris_joins_metadata_and_keeps_annotated_cells(tmp_path):
    counts = _counts(n_cells=6, n_genes=5)
    cells = [f"A{i}.plate" for i in range(6)]
    stored = ad.AnnData(X=sp.csr_matrix(counts.T))  # genes × cells, as some copies are
    stored.obs_names = [f"gene{i}" for i in range(5)]
    stored.var_names = cells
    file = _write(tmp_path, stored, "TM_facs_mat.h5ad")
    metadata = pd.DataFrame(
        {"cell_ontology_class": ["B cell"] * 3 + ["T cell"] * 2 + [None], "tissue": "Marrow"},
        index=pd.Index(cells, name="cell"),
    )
    metadata.to_csv(tmp_path / "TM_facs_metadata.csv")
    adata = datasets.tabula_muris(file)
    assert adata.n_obs == 5 and adata.n_vars == 5
    _assert_integer_counts(adata)
    assert adata.obs["cell_type"].tolist() == ["B cell"] * 3 + ["T cell"] * 2
    assert set(adata.obs["tissue"]) == {"Marrow"}
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray()[:5])


def test_sciplex_standardises_columns_and_selects_the_papers_drugs(tmp_path):
    lines, rows = ["A549", "K562", "MCF7"], []
    for line in lines:
        rows += [(line, "S1", "Epigenetic")] * 3 + [(line, "S2", "Epigenetic")] * 2
        rows += [(line, "S3", "Kinase")] * 2 + [(line, "Vehicle", "Vehicle")] * 2
    rows += [("A549", "S4", "Apoptosis")] * 5  # a pathway treated in one cell line only
    obs = pd.DataFrame(rows, columns=["cell_type", "product_name", "pathway"])
    obs["dose_value"] = 10.0
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(X=_counts(n_cells=len(obs), n_genes=4), obs=obs)
    file = _write(tmp_path, adata)
    loaded = datasets.sciplex(file)
    assert {"cell_line", "drug", "dose", "pathway"} <= set(loaded.obs.columns)
    assert loaded.n_obs == len(obs)
    subset = datasets.sciplex(file, paper_subset=True)
    assert set(subset.obs["drug"]) == {"S1", "S3"}
    assert sorted(subset.obs["cell_line"].unique()) == lines


@pytest.mark.parametrize("loader", ["kang_pbmc", "pancreas", "tabula_muris", "sciplex"])
def test_offline_download_explains_what_to_do(loader, monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve host")

    monkeypatch.setattr(pooch, "retrieve", offline)
    monkeypatch.setenv("MICHIGAN_DATA_DIR", str(tmp_path))
    with pytest.raises(ConnectionError, match="offline") as error:
        getattr(datasets, loader)()
    message = str(error.value)
    assert "https://" in message and f"{loader}(path=" in message and str(tmp_path) in message


def test_a_checksum_mismatch_names_the_file(monkeypatch, tmp_path):
    import dataclasses
    from pathlib import Path

    from michigan.datasets import _real

    recorded = "sha256:" + "0" * 64
    monkeypatch.setattr(_real, "_KANG", dataclasses.replace(_real._KANG, known_hash=recorded))

    def download_then_check(url, known_hash, fname, path):
        file = Path(path) / fname
        file.write_bytes(b"not the published file")
        pooch.hashes.hash_matches(str(file), known_hash, strict=True)  # pooch's own check
        return str(file)

    monkeypatch.setattr(pooch, "retrieve", download_then_check)
    monkeypatch.setenv("MICHIGAN_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"kang_2018\.h5ad .*does not match.*checksum.*delete"):
        datasets.kang_pbmc()
