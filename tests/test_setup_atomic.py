"""``setup_anndata`` checks everything before it registers, and leaves bad data untouched."""

from __future__ import annotations

import numpy as np
import pytest
import scvi

import michigan as mg

from _helpers import assert_unchanged, clustered_counts, snapshot


def _with_missing(key: str):
    adata = clustered_counts(n_cells=30, n_genes=8)
    values = adata.obs[key].astype(object)
    values.iloc[[3, 7]] = np.nan
    adata.obs[key] = values
    return adata


@pytest.mark.parametrize("model_cls", [mg.TCVAE, mg.MichiGAN], ids=["TCVAE", "MichiGAN"])
@pytest.mark.parametrize("key", ["cluster", "batch"])
def test_missing_labels_or_batches_are_named_and_nothing_is_registered(model_cls, key):
    adata = _with_missing(key)
    before = snapshot(adata)
    argument = "labels_key" if key == "cluster" else "batch_key"
    with pytest.raises(ValueError, match=rf"adata.obs\['{key}'\] has 2 missing.*'cell3'.*fill"):
        model_cls.setup_anndata(adata, **{argument: key})
    assert_unchanged(adata, before)


def test_duplicate_gene_names_are_refused_before_registration():
    adata = clustered_counts(n_cells=30, n_genes=8)
    adata.var_names = ["g0", "g1", "g2", "g0", "g4", "g5", "g6", "g1"]
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"2 duplicated gene name\(s\).*'g0'.*make_unique"):
        mg.TCVAE.setup_anndata(adata)
    assert_unchanged(adata, before)


def test_a_failing_registration_is_rolled_back(monkeypatch):
    adata = clustered_counts(n_cells=30, n_genes=8)
    mg.TCVAE.setup_anndata(adata, batch_key="batch")
    before = snapshot(adata)
    batch_codes = adata.obs["_scvi_batch"].copy()
    uuid = adata.uns["_scvi_uuid"]

    def fail(self, *args, **kwargs):
        adata.obs["_scvi_batch"] = -1
        adata.uns["_scvi_uuid"] = "half-written"
        raise RuntimeError("registration failed")

    monkeypatch.setattr(scvi.data.AnnDataManager, "register_fields", fail)
    with pytest.raises(RuntimeError, match="registration failed"):
        mg.TCVAE.setup_anndata(adata, labels_key="cluster")
    assert_unchanged(adata, before)
    np.testing.assert_array_equal(adata.obs["_scvi_batch"], batch_codes)
    assert adata.uns["_scvi_uuid"] == uuid
