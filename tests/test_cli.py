"""The ``michigan`` command line."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import anndata
import numpy as np
import pytest

import michigan as mg
from michigan import cli
from michigan._cli_commands import LIGHTNING_LOGGERS
from michigan.cli import main

from _helpers import clustered_counts

#: Modules that make ``import michigan.cli`` slow; parsing and input checks must not load them.
HEAVY_MODULES = ("torch", "scvi", "scanpy")


@pytest.fixture(autouse=True)
def restore_log_levels():
    """The commands set Lightning's and scvi-tools' log levels; put them back after each test."""
    import scvi

    levels = {name: logging.getLogger(name).level for name in LIGHTNING_LOGGERS}
    verbosity = scvi.settings.verbosity
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    scvi.settings.verbosity = verbosity


def _run_in_fresh_python(argv: list[str], cwd: Path) -> dict:
    """Run ``main(argv)`` in a new interpreter: exit code, stderr, and heavy modules loaded."""
    script = (
        "import json, sys\n"
        "from michigan.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "    code = 0\n"
        "except SystemExit as exit_:\n"
        "    code = exit_.code\n"
        f"loaded = [name for name in {HEAVY_MODULES!r} if name in sys.modules]\n"
        "print(json.dumps({'code': code, 'loaded': loaded}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, env=env
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["stdout"] = "\n".join(done.stdout.strip().splitlines()[:-1])
    result["stderr"] = done.stderr.strip()
    return result


def test_importing_the_cli_loads_neither_torch_nor_scvi_nor_scanpy(tmp_path):
    script = (
        "import sys, michigan.cli\n"
        f"print([name for name in {HEAVY_MODULES!r} if name in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command_without_loading_torch(tmp_path):
    result = _run_in_fresh_python(["--help"], tmp_path)
    assert result["code"] == 0
    assert result["loaded"] == []
    for command in ("demo", "train", "generate", "predict", "benchmark"):
        assert re.search(rf"^\s+{command}\b", result["stdout"], re.MULTILINE), command


def test_the_package_imports_lazily_and_exposes_its_public_names():
    script = (
        "import sys, michigan as mg\n"
        f"before = [name for name in {HEAVY_MODULES!r} if name in sys.modules]\n"
        "print(before, sorted(mg.__all__) == sorted(set(mg.__all__) & set(dir(mg))))\n"
        "print(mg.TCVAE.__module__, mg.pl.__name__, mg.data.hold_out.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    first, second = done.stdout.strip().splitlines()
    assert first == "[] True"
    assert second == "michigan.model._tcvae michigan.pl hold_out"


def test_every_public_name_resolves_and_unknown_names_raise():
    for name in mg.__all__:
        assert getattr(mg, name) is not None
    assert mg.MichiGAN is mg.model.MichiGAN
    with pytest.raises(AttributeError, match="has no attribute 'TCVEA'"):
        _ = mg.TCVEA


def test_choices_repeated_in_the_cli_equal_the_package_constants():
    from michigan.benchmark import METHODS, PRESETS
    from michigan.model._latent_arithmetic import ARITHMETICS
    from michigan.module import CODE_SOURCES, GENE_LIKELIHOODS

    assert cli.GENE_LIKELIHOOD_CHOICES == tuple(GENE_LIKELIHOODS)
    assert cli.CODE_SOURCE_CHOICES == tuple(CODE_SOURCES)
    assert cli.ARITHMETIC_CHOICES == tuple(ARITHMETICS)
    assert set(cli.PRESET_CHOICES) == set(PRESETS)
    assert cli.METHOD_CHOICES == tuple(METHODS)


def test_benchmark_help_lists_the_leave_one_out_preset(tmp_path):
    result = _run_in_fresh_python(["benchmark", "--help"], tmp_path)
    assert result["code"] == 0
    assert "kang-loo" in result["stdout"]
    for option in ("--cell-types", "--epochs-vae", "--epochs-gan", "--seed", "--no-scgen"):
        assert option in result["stdout"], option


def test_demo_writes_and_lists_every_file(tmp_path, capsys):
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
    written = sorted(tmp_path.iterdir())
    assert {p.name for p in written} >= {
        "pbmc68k_tcvae.h5ad",
        "umap_latents.png",
        "umap_real_generated.png",
        "report.html",
    }
    for path in written:  # every file it wrote is listed
        assert f"wrote {path}" in printed, path
    adata = anndata.read_h5ad(tmp_path / "pbmc68k_tcvae.h5ad")
    assert adata.obsm["X_tcvae"].shape == (adata.n_obs, 3)
    assert np.isfinite(adata.obsm["X_tcvae"]).all()
    assert (tmp_path / "umap_latents.png").stat().st_size > 10_000
    collapsed = adata.uns["tcvae_latent_activity"]["collapsed"]
    names = ", ".join(str(j) for j in collapsed) or "none"
    report = (tmp_path / "report.html").read_text()
    assert f"latents collapsed to the prior (KL &lt; 0.1 nats)</th><td>{names} (of 3)" in report
    # the GAN stage: its budget, its cells (one per real cell, each with the target library)
    assert adata.uns["michigan"]["generator_steps"] == 6
    assert "GAN generator steps</th><td>6<" in report
    generated = adata.layers["michigan_generated"]
    assert generated.shape == adata.shape
    np.testing.assert_allclose(np.expm1(generated.astype(np.float64)).sum(1), 1e4, rtol=1e-3)
    assert "what the random-forest error says" in report
    coverage = adata.uns["michigan"]["cell_type_coverage"]
    assert set(coverage["cell_type"]) == set(adata.obs["bulk_labels"])
    assert len(coverage["ratio"]) == len(coverage["cell_type"])
    assert "cell types reached" in report
    assert any(p.name.startswith("traversal_z") for p in written)


def test_train_command_writes_the_representation(tmp_path, capfd, caplog):
    caplog.set_level(logging.INFO)
    data = clustered_counts(n_cells=80, n_genes=12)
    data.write_h5ad(tmp_path / "in.h5ad")
    argv = ["train", str(tmp_path / "in.h5ad"), str(tmp_path / "out.h5ad"), "--n-latent", "2"]
    main([*argv, "--max-epochs", "1", "--save-model", str(tmp_path / "model")])
    out = anndata.read_h5ad(tmp_path / "out.h5ad")
    assert out.obsm["X_tcvae"].shape == (80, 2)
    assert (tmp_path / "model" / "model.pt").exists()
    assert (tmp_path / "model" / "adata.h5ad").exists()  # generate/predict need no --data
    # Lightning's per-run messages only with --verbose
    assert "GPU available" not in caplog.text + "".join(capfd.readouterr())
    main([*argv, "--max-epochs", "1", "--verbose"])
    assert "GPU available" in caplog.text + "".join(capfd.readouterr())


def _perturbed_counts(n_cells: int = 120) -> anndata.AnnData:
    adata = clustered_counts(n_cells=n_cells, n_genes=12)
    adata.obs["condition"] = np.where(np.arange(n_cells) % 2, "ctrl", "stim")
    held_out = (adata.obs["cluster"] == "c0") & (adata.obs["condition"] == "stim")
    return adata[~held_out.to_numpy()].copy()


def test_train_michigan_then_generate_and_predict_from_the_saved_folder(tmp_path):
    _perturbed_counts().write_h5ad(tmp_path / "in.h5ad")
    model_dir = tmp_path / "michigan_model"
    main(
        [
            "train",
            str(tmp_path / "in.h5ad"),
            str(tmp_path / "out.h5ad"),
            "--model",
            "michigan",
            "--n-latent",
            "2",
            "--max-epochs",
            "1",
            "--gan-steps",
            "2",
            "--save-model",
            str(model_dir),
        ]
    )
    trained = anndata.read_h5ad(tmp_path / "out.h5ad")
    assert trained.obsm["X_michigan"].shape == (trained.n_obs, 2)
    assert (model_dir / "tcvae" / "model.pt").exists()

    main(["generate", str(model_dir), str(tmp_path / "gen.h5ad"), "--n-cells", "7", "--counts"])
    generated = anndata.read_h5ad(tmp_path / "gen.h5ad")
    assert generated.shape == (7, trained.n_vars)
    np.testing.assert_array_equal(generated.var_names, trained.var_names)
    assert (generated.layers["counts"] >= 0).all()

    main(["generate", str(model_dir), str(tmp_path / "twins.h5ad"), "--from-cells"])
    assert anndata.read_h5ad(tmp_path / "twins.h5ad").n_obs == trained.n_obs

    predict = ["predict", str(model_dir), str(tmp_path / "pred.h5ad")]
    keys = ["--cell-type-key", "cluster", "--perturbation-key", "condition"]
    main([*predict, *keys, "--target", "c0", "stim", "--n-cells", "9"])
    predicted = anndata.read_h5ad(tmp_path / "pred.h5ad")
    assert predicted.n_obs == 9
    assert set(predicted.obs["cluster"]) == {"c0"} and set(predicted.obs["condition"]) == {"stim"}


@pytest.fixture
def counts_file(tmp_path):
    path = tmp_path / "in.h5ad"
    clustered_counts(n_cells=40, n_genes=8).write_h5ad(path)
    return path


@pytest.fixture
def saved_tcvae(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "tcvae"
    adata = _perturbed_counts(80)
    mg.TCVAE.setup_anndata(adata, layer="counts")
    model = mg.TCVAE(adata, n_latent=2)
    model.train(max_epochs=1, enable_progress_bar=False)
    model.save(str(folder), save_anndata=True)
    return folder


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: every case below must stop before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was validated")

    monkeypatch.setattr(mg.TCVAE, "train", refuse)
    monkeypatch.setattr(mg.MichiGAN, "train", refuse)


def _one_line_error(stderr: str, command: str) -> str:
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"michigan {command}: error:"), stderr
    return stderr


PREDICT_KEYS = ["--cell-type-key", "cluster", "--perturbation-key", "condition"]
TARGET = ["--target", "c0", "stim"]

# Errors found while parsing or checking paths: exit 2 in a fresh interpreter that never
# loaded torch, scvi-tools or scanpy (so certainly nothing was trained).
EARLY_ERRORS = {
    "missing input": (["train", "{d}/missing.h5ad", "{d}/o.h5ad"], "does not exist"),
    "not h5ad": (["train", "{d}/in.csv", "{d}/o.h5ad"], "must be an .h5ad"),
    "output is input": (["train", "{i}", "{i}"], "output path is the input"),
    "no output folder": (["train", "{i}", "{d}/no/o.h5ad"], "folder .* does not exist"),
    "output suffix": (["train", "{i}", "{d}/o.txt"], "output must be an .h5ad"),
    "output is a folder": (["train", "{i}", "{d}/dir.h5ad"], "is a folder"),
    "save-model is a file": (
        ["train", "{i}", "{d}/o.h5ad", "--save-model", "{d}/in.csv"],
        "--save-model .* is a file",
    ),
    "save-model under a file": (
        ["train", "{i}", "{d}/o.h5ad", "--save-model", "{d}/in.csv/m"],
        "is a file, not a folder",
    ),
    "n-latent zero": (["train", "{i}", "{d}/o.h5ad", "--n-latent", "0"], "--n-latent: must be"),
    "n-latent text": (["train", "{i}", "{d}/o.h5ad", "--n-latent", "ten"], "an integer, got"),
    "beta negative": (["train", "{i}", "{d}/o.h5ad", "--beta", "-1"], "--beta: must be"),
    "beta nan": (["train", "{i}", "{d}/o.h5ad", "--beta", "nan"], "--beta: must be a finite"),
    "max-epochs": (["train", "{i}", "{d}/o.h5ad", "--max-epochs", "0"], "--max-epochs"),
    "seed": (["train", "{i}", "{d}/o.h5ad", "--seed", "-1"], "--seed: must be"),
    "likelihood": (
        ["train", "{i}", "{d}/o.h5ad", "--gene-likelihood", "gauss"],
        "choose from .*nb.*zinb.*poisson.*normal",
    ),
    "gan-steps without michigan": (
        ["train", "{i}", "{d}/o.h5ad", "--gan-steps", "10"],
        "--gan-steps applies to --model michigan",
    ),
    "demo gan-steps": (["demo", "--gan-steps", "0"], "--gan-steps: must be"),
    "demo out is a file": (["demo", "--out", "{i}"], "--out .* is a file"),
    "missing model folder": (["generate", "{d}/none", "{d}/g.h5ad"], "does not exist"),
    "folder without model": (["generate", "{d}", "{d}/g.h5ad"], "holds no model.pt"),
    "generate cells twice": (
        ["generate", "{m}", "{d}/g.h5ad", "--n-cells", "3", "--from-cells"],
        "drop --n-cells",
    ),
    "generate n-cells": (["generate", "{m}", "{d}/g.h5ad", "--n-cells", "0"], "--n-cells"),
    "predict without target": (
        ["predict", "{m}", "{d}/p.h5ad", *PREDICT_KEYS],
        "required: --target",
    ),
    "predict arithmetic": (
        ["predict", "{m}", "{d}/p.h5ad", *PREDICT_KEYS, "--target", "a", "b", "--arithmetic", "x"],
        "choose from .*cell_type.*perturbation",
    ),
    "data missing": (
        ["generate", "{m}", "{d}/g.h5ad", "--data", "{d}/none.h5ad"],
        "--data .* does not exist",
    ),
    "benchmark preset": (["benchmark", "splat"], "choose from .*splatter_linear"),
    "benchmark kang without path": (["benchmark", "kang"], "pass --path"),
    "kang-loo without path": (["benchmark", "kang-loo"], "kang-loo reads a local file"),
    "kang-loo missing file": (
        ["benchmark", "kang-loo", "--path", "{d}/none.h5ad"],
        "--path .* does not exist",
    ),
    "kang-loo with seeds": (
        ["benchmark", "kang-loo", "--path", "{i}", "--seeds", "1"],
        "--seeds applies to the presets other than kang-loo",
    ),
    "no-scgen without kang-loo": (
        ["benchmark", "pbmc68k", "--no-scgen"],
        "--no-scgen applies to preset kang-loo only",
    ),
    "kang-loo epochs": (["benchmark", "kang-loo", "--epochs-gan", "0"], "--epochs-gan: must be"),
    "benchmark method": (["benchmark", "pbmc68k", "--methods", "scVI"], "choose from .*PPCA"),
    "unknown command": (["fly"], "invalid choice: 'fly'"),
}


@pytest.mark.parametrize(("template", "message"), EARLY_ERRORS.values(), ids=EARLY_ERRORS)
def test_user_errors_exit_2_in_one_line_before_torch_is_imported(
    tmp_path, counts_file, template, message
):
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "dir.h5ad").mkdir()
    fake_model = tmp_path / "fake_model"  # passes the early checks: they do not read it
    fake_model.mkdir()
    (fake_model / "model.pt").write_bytes(b"")
    (fake_model / "adata.h5ad").write_bytes(b"")
    fill = {"d": str(tmp_path), "i": str(counts_file), "m": str(fake_model)}
    argv = [part.format(**fill) for part in template]
    result = _run_in_fresh_python(argv, tmp_path)
    assert result["code"] == 2
    command = "michigan" if argv[0] == "fly" else f"michigan {argv[0]}"
    assert "Traceback" not in result["stderr"]
    assert len(result["stderr"].splitlines()) == 1, result["stderr"]
    assert result["stderr"].startswith(f"{command}: error:"), result["stderr"]
    assert re.search(message, result["stderr"]), result["stderr"]
    assert result["loaded"] == [], "the error came after torch, scvi or scanpy was imported"


def test_model_folder_without_saved_data_asks_for_data(tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(folder), str(tmp_path / "g.h5ad")])
    assert exit_info.value.code == 2
    stderr = _one_line_error(capsys.readouterr().err.strip(), "generate")
    assert "pass the training data with --data" in stderr


@pytest.mark.parametrize("flag", ["output", "--save-model"])
def test_unwritable_output_folder_is_a_user_error(
    tmp_path, counts_file, capsys, monkeypatch, flag
):
    # the tests may run as root, for whom every folder is writable: os.access decides here
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        "michigan._cli_checks.os.access",
        lambda path, mode: False if Path(path) == locked else real_access(path, mode),
    )
    output, extra = str(tmp_path / "o.h5ad"), []
    if flag == "output":
        output = str(locked / "o.h5ad")
    else:
        extra = ["--save-model", str(locked / "model")]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(counts_file), output, *extra])
    assert exit_info.value.code == 2
    stderr = _one_line_error(capsys.readouterr().err.strip(), "train")
    assert re.search(f"folder {locked} is not writable", stderr), stderr


# Errors that need the data or the model read: still exit 2, one line, and no training.
LATE_ERRORS = {
    "unreadable": (["train", "{d}/bad.h5ad", "{d}/o.h5ad"], "not a readable .h5ad"),
    "layer": (["train", "{i}", "{d}/o.h5ad", "--layer", "raw"], "'raw' is not"),
    "batch-key": (["train", "{i}", "{d}/o.h5ad", "--batch-key", "x"], "'x' is not"),
    "michigan layer": (
        ["train", "{i}", "{d}/o.h5ad", "--model", "michigan", "--layer", "raw"],
        "'raw' is not",
    ),
    "generate from a TCVAE": (
        ["generate", "{t}", "{d}/g.h5ad"],
        "needs a MichiGAN or WGANGP or InfoWGANGP model; .* holds a TCVAE",
    ),
    "predict unknown key": (
        ["predict", "{t}", "{d}/p.h5ad", "--cell-type-key", "type", *PREDICT_KEYS[2:], *TARGET],
        "type",
    ),
    "predict unknown target": (
        ["predict", "{t}", "{d}/p.h5ad", *PREDICT_KEYS, "--target", "c9", "stim"],
        "c9",
    ),
    "predict with other genes": (
        ["predict", "{t}", "{d}/p.h5ad", "--data", "{i}", *PREDICT_KEYS, *TARGET],
        "trained on 12 genes but adata has 8",
    ),
}


@pytest.mark.parametrize(("template", "message"), LATE_ERRORS.values(), ids=LATE_ERRORS)
def test_user_errors_after_reading_exit_2_in_one_line_before_training(
    tmp_path, counts_file, saved_tcvae, capsys, no_training, template, message
):
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    fill = {"d": str(tmp_path), "i": str(counts_file), "t": str(saved_tcvae)}
    argv = [part.format(**fill) for part in template]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    stderr = _one_line_error(capsys.readouterr().err.strip(), argv[0])
    assert re.search(message, stderr), stderr
    assert not (tmp_path / "o.h5ad").exists()


def test_coverage_reading_names_missed_cell_types_and_the_least_covered():
    from michigan._demo import coverage_reading

    assert coverage_reading({"B": 0.0, "T": 1.5, "NK": 0.0}).startswith(
        "WARNING: no generated cell falls among the real B, NK cells"
    )
    reading = coverage_reading({"B": 0.4, "T": 1.2})
    assert "every type (2 of 2)" in reading and "B, at 0.40×" in reading
