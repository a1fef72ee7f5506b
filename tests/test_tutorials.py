"""The tutorials in ``tutorials/`` execute, in their quick mode, and stay paired with their text.

Each notebook runs with ``MICHIGAN_TUTORIAL_QUICK=1`` (fewer cells and epochs, PCA for UMAP) in
a fresh kernel, in a temporary folder; a cell appended to it asserts the notebook's key results.
They are part of the default suite; deselect them with ``-m "not tutorials"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
#: ``../shared/data`` beside the checkout, as in tests/conftest.py.
KANG_FILE = TUTORIALS.parents[1] / "shared" / "data" / "kang_pbmc_ifnb_scgen_valid.h5ad"
COLAB = "https://colab.research.google.com"

#: What each notebook must have computed, checked in its kernel after the last cell.
KEY_RESULTS = {
    "quickstart": """
assert {"X_tcvae", "X_michigan"} <= set(adata.obsm)
assert generated.n_obs == adata.n_obs and generated.n_vars == adata.n_vars
assert traversals and all(t.n_obs == 30 for t in traversals.values())
assert same_cells, "the reloaded model must generate the same cells"
""",
    "disentanglement": """
assert list(scores.index) == ["PPCA", "VAE", "β-TCVAE"]
assert list(scores.columns) == ["MIG", "Spearman gap", "FactorVAE score"]
assert scores.notna().all().all() and ((scores >= 0) & (scores <= 1)).all().all()
assert list(per_factor.index) == FACTORS
""",
    "generation": """
assert twins.n_obs == adata.n_obs
assert list(metrics.columns) == ["real half vs real half", "real half vs MichiGAN"]
rf = metrics.loc["RF error (0.5 best)"]
assert ((rf >= 0) & (rf <= 1)).all() and rf["real half vs real half"] > 0.3
assert set(traversals) == {f"latent_{step_latent}", f"latent_{quiet_latent}"}
""",
    "prediction": """
assert held_out.n_obs > 0 and TARGET[0] not in set(
    train.obs.loc[train.obs["condition"] == "stimulated", "cell_type"]
)
assert list(results.index) == [
    "MichiGAN", "β-TCVAE decoder", "control cells (no prediction)"
]
assert results.notna().all().all()
assert all(p.n_obs == held_out.n_obs for p in predictions.values())
""",
}


def _notebook(name: str):
    return nbformat.read(TUTORIALS / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", sorted(KEY_RESULTS))
def test_tutorial_is_paired_with_its_text(name):
    notebook = _notebook(name)
    text = jupytext.read(TUTORIALS / f"{name}.py")
    assert [(c.cell_type, c.source) for c in notebook.cells] == [
        (c.cell_type, c.source) for c in text.cells
    ], f"tutorials/{name}.ipynb and .py differ: run `jupytext --sync tutorials/{name}.py`"


@pytest.mark.parametrize("name", sorted(KEY_RESULTS))
def test_tutorial_opens_with_colab_badge_and_gpu_switch(name):
    cells = _notebook(name).cells
    badge = f"{COLAB}/github/michigan-scverse/michigan/blob/main/tutorials/{name}.ipynb"
    assert badge in cells[0].source
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in code and "%pip install" in code
    assert "ACCELERATOR" in code and '"gpu"' in code and "MICHIGAN_TUTORIAL_QUICK" in code
    # The GPU settings are the paper's (1000 epochs) and only taken when CUDA is there.
    assert "if torch.cuda.is_available():" in code and "1000" in code


@pytest.mark.parametrize("name", sorted(KEY_RESULTS))
def test_tutorial_is_stored_small(name):
    notebook = _notebook(name)
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    size = (TUTORIALS / f"{name}.ipynb").stat().st_size
    assert not outputs and size < 300_000, (
        f"tutorials/{name}.ipynb is stored with outputs ({size} bytes): rewrite it with "
        f"`jupytext --to ipynb tutorials/{name}.py`"
    )


@pytest.mark.tutorials
@pytest.mark.parametrize("name", sorted(KEY_RESULTS))
def test_tutorial_executes(name, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if name == "prediction":
        if not KANG_FILE.is_file():
            pytest.skip(f"{KANG_FILE} is absent: the Kang tutorial needs ../shared/data")
        # The loader's cache folder, holding the small Kang file under the download's name.
        (data_dir / "kang_2018.h5ad").symlink_to(KANG_FILE)
    monkeypatch.setenv("MICHIGAN_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("MICHIGAN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = _notebook(name)
    notebook.cells.append(nbformat.v4.new_code_cell(KEY_RESULTS[name]))
    client = nbclient.NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
