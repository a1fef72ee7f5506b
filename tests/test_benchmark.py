"""michigan.benchmark: a tiny end-to-end run, its tables and figures, and its argument checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import michigan as mg
from michigan.benchmark import METHODS, PRESETS, load_preset, run, summarize, to_markdown
from michigan.cli import main

TINY = {
    "n_cells": 200,
    "n_genes": 40,
    "max_epochs_tcvae": 1,
    "max_epochs_gan": 1,
    "n_generated": 150,
    "accelerator": "cpu",
    "tcvae_kwargs": {"n_hidden": (16, 8)},
    "gan_kwargs": {"generator_hidden": (16, 16), "critic_hidden": (16,)},
    "n_estimators": 10,
    "verbose": False,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = run(
        "splatter_nonlinear",
        methods=["PPCA", "beta-TCVAE", "WGAN-GP", "MichiGAN"],
        seeds=(0,),
        out_dir=out,
        **TINY,
    )
    return results, out


def test_run_writes_tidy_csv_table_and_figures(tiny_run):
    results, out = tiny_run
    assert list(results.columns) == ["preset", "method", "seed", "metric", "value"]
    written = pd.read_csv(out / "metrics.csv")
    assert len(written) == len(results)
    methods = set(results["method"])
    assert methods == {"PPCA", "beta-TCVAE", "WGAN-GP", "MichiGAN", "real-split"}
    metrics = set(results["metric"])
    assert {"mig", "spearman_gap", "factorvae_score", "knn_spearman_gap"} <= metrics
    assert {"frechet_distance", "rf_error", "gene_mean_r", "seconds"} <= metrics
    by_method = results.groupby("method")["metric"].apply(set)
    assert "mig" not in by_method["WGAN-GP"] and "mig" not in by_method["MichiGAN"]
    assert "knn_spearman_gap" in by_method["MichiGAN"]
    assert results["value"].notna().all()
    for name in ("fig1_latent_bars.png", "fig2_generation.png", "fig4b_knn_codes.png"):
        assert (out / name).stat().st_size > 1000
    per_latent = pd.read_csv(out / "per_latent.csv")
    assert {"mutual_info", "spearman", "knn_spearman"} <= set(per_latent["kind"])
    activity = per_latent[per_latent["kind"] == "latent_activity"]
    assert set(activity["method"]) == {"PPCA", "beta-TCVAE"}  # the methods with a posterior
    kl = activity[activity["factor"] == "kl"]
    flags = activity[activity["factor"] == "collapsed"]
    assert (kl["value"] >= 0).all() and set(flags["value"]) <= {0.0, 1.0}
    assert (flags["value"].to_numpy() == (kl["value"].to_numpy() < 0.1)).all()
    settings = json.loads((out / "settings.json").read_text())["settings"]
    # the simulation scores library size, so its VAEs decode it from the code (the paper's)
    assert settings["tcvae_kwargs"] == {"decode_library": True, "n_hidden": [16, 8]}


def test_active_latents_count_the_uncollapsed_latents_per_seed(tiny_run):
    results, out = tiny_run
    per_latent = pd.read_csv(out / "per_latent.csv")
    flags = per_latent[
        (per_latent["kind"] == "latent_activity") & (per_latent["factor"] == "collapsed")
    ]
    active = results[results["metric"] == "active_latents"].set_index("method")["value"]
    assert set(active.index) == {"PPCA", "beta-TCVAE"}  # the methods with a posterior
    for method, count in active.items():
        assert count == (flags.loc[flags["method"] == method, "value"] == 0).sum()
    text = (out / "summary.md").read_text()
    two_seeds = pd.concat([results, results.assign(seed=1, value=results["value"] + 1)])
    line = f"`active_latents` per seed (0, 1): PPCA {active['PPCA']:g} {active['PPCA'] + 1:g}"
    assert line in to_markdown(two_seeds)
    assert "`active_latents` per seed (0):" in text


def test_latent_bars_figure_marks_the_collapsed_latents(monkeypatch, tmp_path):
    from michigan.benchmark import _figures

    rows = [("mutual_info", f"latent_{j}", "step", 0.5) for j in range(3)]
    flags = enumerate([0.0, 1.0, 0.0])
    rows += [("latent_activity", f"latent_{j}", "collapsed", flag) for j, flag in flags]
    per_latent = pd.DataFrame(rows, columns=["kind", "latent", "factor", "value"])
    per_latent = per_latent.assign(method="beta-TCVAE", seed=0)
    marked = []
    monkeypatch.setattr(
        _figures, "latent_bars", lambda table, collapsed, **kwargs: marked.append(collapsed)
    )
    _figures.latent_bars_figure(per_latent, tmp_path / "fig1.png")
    assert marked == [["1"], ["1"]]  # both panels mark latent 1


def test_the_vae_epochs_default_to_the_tcvaes_for_the_number_of_cells(monkeypatch, tmp_path):
    # the CPU sizes give every VAE the β-TCVAE's default epochs for the cells (200 at 5,000);
    # a budget of 600 cells read gives these 200 cells 3 epochs, recorded in settings.json
    monkeypatch.setattr(mg.model._tcvae, "DEFAULT_CELLS_READ", 600)
    monkeypatch.setattr(mg.model._tcvae, "DEFAULT_MIN_EPOCHS", 1)
    tiny = {**TINY, "max_epochs_tcvae": None}
    run("splatter_nonlinear", methods=["beta-TCVAE"], seeds=(0,), out_dir=tmp_path, **tiny)
    settings = json.loads((tmp_path / "settings.json").read_text())["settings"]
    assert settings["max_epochs_tcvae"] == 3


def test_markdown_table_has_mean_sd_columns(tiny_run):
    results, out = tiny_run
    text = (out / "summary.md").read_text()
    assert "| method | mig | spearman_gap | factorvae_score |" in text
    assert "± –" in text  # a single seed: no SD
    two_seeds = pd.concat([results, results.assign(seed=1, value=results["value"] * 1.1)])
    summary = summarize(two_seeds)
    assert {"mean", "sd", "n_seeds", "mean ± SD"} <= set(summary.columns)
    assert (summary["n_seeds"] == 2).all()
    assert "± –" not in to_markdown(two_seeds)


def test_the_summary_puts_the_run_beside_the_papers_table_1(tiny_run):
    results, out = tiny_run
    text = (out / "summary.md").read_text()
    assert "Against the paper's Table 1" in text
    beside = mg.benchmark.against_paper(results, "splatter_nonlinear").set_index("metric")
    paper = mg.benchmark.PAPER_TABLE1["splatter_nonlinear"]
    tcvae = beside[beside["method"] == "beta-TCVAE"]
    assert tcvae.loc["mig", "paper"] == paper[("beta-TCVAE", "mig")]
    mig = results.query("method == 'beta-TCVAE' and metric == 'mig'")["value"].iloc[0]
    assert tcvae.loc["mig", "per seed"] == f"{mig:.2f}"
    assert f"| beta-TCVAE | mig | {tcvae.loc['mig', 'here']} | {mig:.2f} | 0.66 |" in text
    assert mg.benchmark.against_paper(results, "prosstt_3").empty


def test_simulated_presets_default_to_five_seeds():
    for name in ("splatter_linear", "splatter_nonlinear", "prosstt_3", "prosstt_4", "prosstt_5"):
        assert PRESETS[name].default_seeds == (0, 1, 2, 3, 4)
    from michigan.cli import build_parser

    assert build_parser().parse_args(["benchmark", "prosstt_3"]).seeds is None


@pytest.mark.parametrize(
    "name", [name for name, preset in PRESETS.items() if not preset.needs_path]
)
def test_each_preset_loads_counts_with_its_factors(name):
    preset, adata = load_preset(name, n_cells=120, n_genes=30)
    assert preset.name == name
    assert adata.n_obs == 120 and adata.n_vars <= 30
    assert set(preset.factors) <= set(adata.obs)
    counts = adata.layers["counts"]
    counts = counts.toarray() if hasattr(counts, "toarray") else counts
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    again = load_preset(name, n_cells=120, n_genes=30)[1].layers["counts"]
    again = again.toarray() if hasattr(again, "toarray") else again
    np.testing.assert_array_equal(counts, again)  # the same seed gives the same data


def test_every_method_is_documented():
    page = (Path(__file__).resolve().parents[1] / "docs" / "paper_benchmark.md").read_text()
    missing = [method for method in METHODS if f"`{method}`" not in page]
    assert not missing, f"methods missing from docs/paper_benchmark.md: {missing}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "splatter"}, "unknown preset 'splatter'"),
        ({"methods": ["PPCA", "scVI"]}, "unknown method.*'scVI'"),
        ({"methods": []}, "methods is empty"),
        ({"seeds": ()}, "seeds is empty"),
        ({"seeds": (-1,)}, "non-negative"),
        ({"preset": "kang"}, "path="),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(**{"out_dir": None, **kwargs})


def test_cli_rejects_unknown_preset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "nope", "--seeds", "0"])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "invalid choice: 'nope'" in stderr and "splatter_linear" in stderr
    assert mg.benchmark.run is run


def test_merge_combines_seeds(tiny_run, tmp_path):
    _, out = tiny_run
    other = tmp_path / "seed1"
    other.mkdir()
    for name in ("metrics.csv", "per_latent.csv"):
        table = pd.read_csv(out / name)
        table.assign(seed=1).to_csv(other / name, index=False)
    (other / "settings.json").write_text((out / "settings.json").read_text())
    merged = mg.benchmark.merge([out, other], tmp_path / "both", figures=False)
    assert sorted(merged["seed"].unique()) == [0, 1]
    assert "over 2 seed(s)" in (tmp_path / "both" / "summary.md").read_text()
    with pytest.raises(ValueError, match="more than one folder"):
        mg.benchmark.merge([out, out], tmp_path / "dup")
