"""Read-only calls match a user's genes to the model's by name, and never write to the AnnData."""

from __future__ import annotations

import numpy as np
import pytest
import scvi

import michigan as mg
from michigan._genes import gene_order

from _helpers import assert_unchanged, clustered_counts, snapshot


@pytest.fixture(scope="module")
def trained():
    adata = clustered_counts(n_cells=120, n_genes=12, n_batches=2)
    mg.TCVAE.setup_anndata(adata, layer="counts", batch_key="batch")
    scvi.settings.seed = 0
    model = mg.TCVAE(adata, n_latent=3, n_hidden=(16,))
    model.train(max_epochs=2, batch_size=32, enable_progress_bar=False)
    return model


def _fresh(model, genes=None):
    """A copy of the training data that was never set up, with the genes in ``genes`` order."""
    adata = model.adata.copy()
    for key in [k for k in adata.uns if k.startswith("_scvi")]:
        del adata.uns[key]
    adata.obs = adata.obs[["cluster", "batch"]].copy()
    return adata if genes is None else adata[:, genes].copy()


def test_gene_order_reorders_the_same_set_and_names_the_difference():
    reference = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(gene_order(np.array(["c", "a", "b"]), reference), [1, 2, 0])
    assert gene_order(reference, reference) is None
    with pytest.raises(ValueError, match=r"1 of the model's 3 genes.*missing.*'c'"):
        gene_order(np.array(["a", "b", "x"]), reference)
    with pytest.raises(ValueError, match=r"duplicated.*'a'.*var_names_make_unique"):
        gene_order(np.array(["a", "a", "b", "c"]), reference)


def test_reordered_genes_give_the_same_codes(trained):
    expected = trained.get_latent_representation()
    reversed_genes = trained.adata.var_names[::-1]
    codes = trained.get_latent_representation(_fresh(trained, reversed_genes))
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)


def test_reordered_genes_decode_in_the_model_order(trained):
    expected = trained.get_normalized_expression()
    shuffled = np.random.default_rng(0).permutation(trained.adata.var_names)
    expression = trained.get_normalized_expression(_fresh(trained, shuffled))
    np.testing.assert_allclose(expression, expected, rtol=1e-4, atol=1e-3)


def test_other_genes_are_an_error_naming_them(trained):
    renamed = _fresh(trained)
    renamed.var_names = [f"other{i}" for i in range(renamed.n_vars)]
    with pytest.raises(ValueError, match=r"12 of the model's 12 genes.*missing.*'gene0'"):
        trained.get_latent_representation(renamed)
    subset = _fresh(trained, trained.adata.var_names[:-1])
    with pytest.raises(ValueError, match=r"1 of the model's 12 genes.*'gene11'"):
        trained.get_latent_representation(subset)


def test_read_only_calls_leave_an_unregistered_anndata_unchanged(trained):
    adata = _fresh(trained, trained.adata.var_names[::-1])
    before = snapshot(adata)
    trained.get_latent_representation(adata)
    trained.get_normalized_expression(adata)
    assert_unchanged(adata, before)
    assert not [key for key in adata.uns if key.startswith("_scvi")]


def test_predict_labels_decoded_genes_in_the_model_order(trained):
    adata = _fresh(trained, trained.adata.var_names[::-1])
    adata.obs["condition"] = np.where(np.arange(adata.n_obs) % 2, "ctrl", "stim")
    is_target = (adata.obs["cluster"] == "c0") & (adata.obs["condition"] == "stim")
    adata = adata[~is_target.to_numpy()].copy()
    predicted = trained.predict(
        adata,
        cell_type_key="cluster",
        perturbation_key="condition",
        target=("c0", "stim"),
        seed=0,
    )
    np.testing.assert_array_equal(predicted.var_names, trained.adata.var_names)


def test_michigan_predict_matches_genes_by_name(trained):
    adata = _fresh(trained)
    mg.MichiGAN.setup_anndata(adata, layer="counts", batch_key="batch")
    gan = mg.MichiGAN(adata, representation=trained, generator_hidden=(16,), critic_hidden=(16,))
    gan.train(max_steps=3, batch_size=32, monitor=False, enable_progress_bar=False)
    query = _fresh(trained)
    query.obs["condition"] = np.where(np.arange(query.n_obs) % 2, "ctrl", "stim")
    is_target = (query.obs["cluster"] == "c0") & (query.obs["condition"] == "stim")
    query = query[~is_target.to_numpy()].copy()
    kwargs = {"cell_type_key": "cluster", "perturbation_key": "condition", "seed": 0}
    expected = gan.predict(query, target=("c0", "stim"), **kwargs)
    reversed_genes = query[:, query.var_names[::-1]].copy()
    before = snapshot(reversed_genes)
    predicted = gan.predict(reversed_genes, target=("c0", "stim"), **kwargs)
    np.testing.assert_array_equal(predicted.var_names, trained.adata.var_names)
    np.testing.assert_allclose(predicted.X, expected.X, rtol=1e-5, atol=1e-6)
    assert_unchanged(reversed_genes, before)
