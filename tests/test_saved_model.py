"""Loading a saved β-TCVAE: missing or damaged files are named with their path."""

from __future__ import annotations

import shutil

import pytest
import torch

import michigan as mg

from _helpers import clustered_counts


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    adata = clustered_counts(n_cells=60, n_genes=8)
    mg.TCVAE.setup_anndata(adata)
    model = mg.TCVAE(adata, n_latent=2, n_hidden=(8,))
    model.train(max_epochs=1, batch_size=32, enable_progress_bar=False)
    folder = tmp_path_factory.mktemp("saved") / "tcvae"
    model.save(folder, save_anndata=True)
    return folder, adata


@pytest.mark.parametrize("with_adata", [True, False], ids=["adata", "saved adata"])
def test_a_missing_model_file_is_named(saved, tmp_path, with_adata):
    folder, adata = saved
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "model.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"no saved model at .*copy.model\.pt.*save\("):
        mg.TCVAE.load(copy, adata=adata if with_adata else None)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved model at .*nowhere.model\.pt"):
        mg.TCVAE.load(tmp_path / "nowhere")


@pytest.mark.parametrize("with_adata", [True, False], ids=["adata", "saved adata"])
def test_a_truncated_model_file_is_named(saved, tmp_path, with_adata):
    folder, adata = saved
    copy = shutil.copytree(folder, tmp_path / "copy")
    content = (copy / "model.pt").read_bytes()
    (copy / "model.pt").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"could not read .*copy.model\.pt.*truncated"):
        mg.TCVAE.load(copy, adata=adata if with_adata else None)


def test_an_intact_save_still_loads(saved):
    folder, adata = saved
    assert mg.TCVAE.load(folder, adata=adata).is_trained


def test_the_fingerprint_recognises_the_same_weights_only(saved):
    from michigan.model._saved import module_fingerprint

    folder, adata = saved
    first = mg.TCVAE.load(folder, adata=adata)
    second = mg.TCVAE.load(folder, adata=adata)
    assert module_fingerprint(first.module) == module_fingerprint(second.module)
    with torch.no_grad():
        second.module.z_mean.bias.add_(1e-3)
    assert module_fingerprint(first.module) != module_fingerprint(second.module)
