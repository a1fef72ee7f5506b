"""The ``michigan`` command line."""

from __future__ import annotations

import re

import anndata
import numpy as np
import pytest

import michigan as mg
from michigan.cli import build_parser, main
from michigan.module._tcvae import GENE_LIKELIHOODS

from _helpers import clustered_counts


def test_demo_writes_the_representation_and_a_umap(tmp_path, capsys):
    main(
        [
            "demo",
            "--out",
            str(tmp_path),
            "--max-epochs",
            "2",
            "--n-latent",
            "3",
            "--gan-steps",
            "6",
        ]
    )
    printed = capsys.readouterr().out
    adata_path = tmp_path / "pbmc68k_tcvae.h5ad"
    umap_path = tmp_path / "umap_latents.png"
    assert str(adata_path) in printed and str(umap_path) in printed
    adata = anndata.read_h5ad(adata_path)
    assert adata.obsm["X_tcvae"].shape == (adata.n_obs, 3)
    assert np.isfinite(adata.obsm["X_tcvae"]).all()
    assert umap_path.stat().st_size > 10_000
    collapsed = adata.uns["tcvae_latent_activity"]["collapsed"]
    names = ", ".join(str(j) for j in collapsed) or "none"
    report = (tmp_path / "report.html").read_text()
    assert f"latents collapsed to the prior (KL &lt; 0.1 nats)</th><td>{names} (of 3)" in report
    # the GAN stage: its budget, its cells (one per real cell, each with the target library),
    # its figures, and every file it wrote printed
    assert adata.uns["michigan"]["generator_steps"] == 6
    assert "GAN generator steps</th><td>6<" in report
    generated = adata.layers["michigan_generated"]
    assert generated.shape == adata.shape
    np.testing.assert_allclose(np.expm1(generated.astype(np.float64)).sum(1), 1e4, rtol=1e-3)
    assert "what the random-forest error says" in report
    for name in ("umap_real_generated.png", "report.html"):
        assert str(tmp_path / name) in printed and (tmp_path / name).stat().st_size > 0
    assert any(p.name.startswith("traversal_z") and str(p) in printed for p in tmp_path.iterdir())


def test_train_command_writes_the_representation(tmp_path):
    data = clustered_counts(n_cells=80, n_genes=12)
    data.write_h5ad(tmp_path / "in.h5ad")
    main(
        [
            "train",
            str(tmp_path / "in.h5ad"),
            str(tmp_path / "out.h5ad"),
            "--n-latent",
            "2",
            "--max-epochs",
            "1",
            "--save-model",
            str(tmp_path / "model"),
        ]
    )
    out = anndata.read_h5ad(tmp_path / "out.h5ad")
    assert out.obsm["X_tcvae"].shape == (80, 2)
    assert (tmp_path / "model" / "model.pt").exists()


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fly"])


@pytest.fixture
def counts_file(tmp_path):
    path = tmp_path / "in.h5ad"
    clustered_counts(n_cells=40, n_genes=8).write_h5ad(path)
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: every case below must stop before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was validated")

    monkeypatch.setattr(mg.TCVAE, "train", refuse)


def _user_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert "Traceback" not in stderr
    return stderr


@pytest.mark.parametrize(
    ("make_argv", "message"),
    [
        (lambda d, i: ["train", str(d / "missing.h5ad"), str(d / "o.h5ad")], "does not exist"),
        (lambda d, i: ["train", str(d / "in.csv"), str(d / "o.h5ad")], "must be an .h5ad"),
        (lambda d, i: ["train", str(d / "bad.h5ad"), str(d / "o.h5ad")], "not a readable"),
        (lambda d, i: ["train", str(i), str(i)], "output path is the input"),
        (lambda d, i: ["train", str(i), str(d / "no" / "o.h5ad")], "folder .* does not exist"),
        (lambda d, i: ["train", str(i), str(d / "o.txt")], "output must be an .h5ad"),
        (
            lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--save-model", str(i)],
            "--save-model .* is a file",
        ),
        (
            lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--save-model", str(d / "x" / "m")],
            "--save-model: folder .* does not exist",
        ),
        (lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--n-latent", "0"], "n_latent"),
        (lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--beta", "-1"], "beta"),
        (lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--max-epochs", "0"], "max_epochs"),
        (lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--layer", "raw"], "'raw' is not"),
        (lambda d, i: ["train", str(i), str(d / "o.h5ad"), "--batch-key", "x"], "'x' is not"),
    ],
    ids=[
        "missing input",
        "not h5ad",
        "unreadable",
        "output is input",
        "no output folder",
        "output suffix",
        "save-model is a file",
        "save-model folder",
        "n-latent",
        "beta",
        "max-epochs",
        "layer",
        "batch-key",
    ],
)
def test_train_user_errors_are_one_line_and_exit_2_before_training(
    tmp_path, counts_file, capsys, no_training, make_argv, message
):
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    stderr = _user_error(capsys, make_argv(tmp_path, counts_file))
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith("michigan train: error:")
    assert re.search(message, stderr), stderr


def test_gene_likelihood_lists_its_choices(counts_file, tmp_path, capsys):
    argv = ["train", str(counts_file), str(tmp_path / "o.h5ad"), "--gene-likelihood", "gauss"]
    stderr = _user_error(capsys, argv)
    assert re.search("choose from .*nb.*zinb.*poisson.*normal", stderr), stderr
    assert tuple(GENE_LIKELIHOODS) == ("nb", "zinb", "poisson", "normal")
