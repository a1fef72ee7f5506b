"""Loaders of the real data sets of the paper: a local file, or a download with pooch."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pooch
import scipy.sparse as sp
from anndata import AnnData

_CACHE_ENV = "MICHIGAN_DATA_DIR"


@dataclass(frozen=True)
class _Remote:
    """A public file; ``known_hash`` is ``None`` where no checksum could be verified."""

    description: str
    url: str
    filename: str
    known_hash: str | None = None


# Checksums: none of these files could be obtained (no internet access where the loaders were
# written and hardened), so no hash could be recorded and pooch downloads them without a hash
# check (known_hash=None). Record a file's SHA256 here once it is available; a download that
# then does not match raises an error naming the file (see _download).
_KANG = _Remote(
    "the Kang et al. (2018) IFN-β PBMC data (pertpy's kang_2018.h5ad)",
    "https://figshare.com/ndownloader/files/34464122",
    "kang_2018.h5ad",
)
_PANCREAS = _Remote(
    "the pancreas endocrinogenesis data of scVelo (Bastidas-Ponce et al. 2019)",
    "https://github.com/theislab/scvelo_notebooks/raw/master/data/Pancreas/endocrinogenesis_day15.h5ad",
    "endocrinogenesis_day15.h5ad",
)
_TABULA_MURIS = _Remote(
    "the Tabula Muris FACS (Smart-seq2) counts",
    "https://s3.amazonaws.com/czbiohub-tabula-muris/TM_facs_mat.h5ad",
    "TM_facs_mat.h5ad",
)
_TABULA_MURIS_METADATA = _Remote(
    "the Tabula Muris FACS cell annotations",
    "https://s3.amazonaws.com/czbiohub-tabula-muris/TM_facs_metadata.csv",
    "TM_facs_metadata.csv",
)
_SCIPLEX = _Remote(
    "the sci-Plex 3 data (Srivatsan et al. 2020, scPerturb's h5ad)",
    "https://zenodo.org/record/7278143/files/SrivatsanTrapnell2020_sciplex3.h5ad",
    "SrivatsanTrapnell2020_sciplex3.h5ad",
)

_CONDITION_NAMES = {
    "ctrl": "control",
    "control": "control",
    "stim": "stimulated",
    "stimulated": "stimulated",
}
_CONTROL_DRUGS = frozenset({"control", "vehicle", "dmso"})


def kang_pbmc(path: str | os.PathLike | None = None) -> AnnData:
    """PBMCs of Kang et al. (2018), control and IFN-β stimulated, with their counts.

    Parameters
    ----------
    path
        A local ``.h5ad`` of the data (or a folder holding ``kang_2018.h5ad``), for example the
        1,975-cell scGen validation subset ``kang_pbmc_ifnb_scgen_valid.h5ad``. Without it,
        pertpy's ``kang_2018.h5ad`` is downloaded from figshare into the cache folder
        (``$MICHIGAN_DATA_DIR`` or pooch's user cache) **without a checksum**: none could be
        verified when this loader was written.

    Returns
    -------
    AnnData with integer counts (CSR) in ``.X`` and ``.layers["counts"]``, found in
    ``.layers["counts"]``, ``.X`` or ``.raw``; ``.obs["condition"]`` (``"control"`` or
    ``"stimulated"``, from ``condition`` or ``label``) and ``.obs["cell_type"]``; the file's
    other annotations are kept.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.kang_pbmc("../shared/data/kang_pbmc_ifnb_scgen_valid.h5ad")
    >>> sorted(adata.obs["condition"].unique())
    ['control', 'stimulated']
    """
    file = _locate(path, _KANG, "kang_pbmc")
    adata = _with_counts(_read_h5ad(file), file)
    _standardise(adata, file, "condition", ("condition", "label", "stim"), _CONDITION_NAMES)
    _standardise(adata, file, "cell_type", ("cell_type", "cell", "celltype"))
    return adata


def pancreas(path: str | os.PathLike | None = None) -> AnnData:
    """Pancreatic endocrinogenesis at E15.5 (Bastidas-Ponce et al. 2019), as in scVelo.

    Parameters
    ----------
    path
        A local ``.h5ad`` of the data (or a folder holding ``endocrinogenesis_day15.h5ad``).
        Without it, scVelo's file is downloaded from GitHub into the cache folder
        (``$MICHIGAN_DATA_DIR`` or pooch's user cache) **without a checksum**: none could be
        verified when this loader was written.

    Returns
    -------
    AnnData with integer (spliced) counts (CSR) in ``.X`` and ``.layers["counts"]``;
    ``.obs["clusters"]`` (8 stages from ductal cells to the endocrine types); ``spliced`` and
    ``unspliced`` layers and other annotations are kept. The paper's latent time and cell-cycle
    scores are not in the file: compute them with ``scvelo.tl.latent_time`` and
    :func:`scanpy.tl.score_genes_cell_cycle`.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.pancreas("../shared/data/pancreas_endocrinogenesis_739.h5ad")
    >>> adata.obs["clusters"].nunique()
    8
    """
    file = _locate(path, _PANCREAS, "pancreas")
    adata = _with_counts(_read_h5ad(file), file)
    _standardise(adata, file, "clusters", ("clusters", "cluster", "cell_type"))
    return adata


def tabula_muris(
    path: str | os.PathLike | None = None, metadata_path: str | os.PathLike | None = None
) -> AnnData:
    """Tabula Muris FACS (Smart-seq2) cells of 20 mouse organs with their cell types.

    Parameters
    ----------
    path
        A local ``TM_facs_mat.h5ad`` (or a folder holding it). Without it, the file is
        downloaded from the Tabula Muris S3 bucket into the cache folder
        (``$MICHIGAN_DATA_DIR`` or pooch's user cache) **without a checksum**: none could be
        verified when this loader was written.
    metadata_path
        The cell annotations, ``TM_facs_metadata.csv``. Not needed when the ``.h5ad`` already
        holds ``cell_ontology_class`` (or ``cell_type``) in ``.obs``; otherwise taken from
        beside ``path`` when it is there, or downloaded.

    Returns
    -------
    AnnData of the annotated cells with integer read counts (CSR) in ``.X`` and
    ``.layers["counts"]``; ``.obs["cell_type"]`` (the cell ontology class) and
    ``.obs["tissue"]``. The paper then kept 41,965 cells and 4,062 genes after scanpy's
    filtering; that selection is left to the user.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.tabula_muris("data/TM_facs_mat.h5ad")  # doctest: +SKIP
    >>> adata.obs["cell_type"].nunique()  # doctest: +SKIP
    81
    """
    file = _locate(path, _TABULA_MURIS, "tabula_muris")
    adata = _read_h5ad(file)
    annotation = ("cell_ontology_class", "cell_type")
    if not any(column in adata.obs for column in annotation):
        metadata = _read_metadata(file, metadata_path)
        adata = _attach_metadata(adata, metadata, file)
    adata = _with_counts(adata, file)
    _standardise(adata, file, "cell_type", annotation)
    _standardise(adata, file, "tissue", ("tissue",), required=False)
    annotated = adata.obs["cell_type"].notna().to_numpy()
    return adata[annotated].copy() if not annotated.all() else adata


def sciplex(path: str | os.PathLike | None = None, *, paper_subset: bool = False) -> AnnData:
    """sci-Plex 3 (Srivatsan et al. 2020): A549, K562 and MCF7 cells under 188 compounds.

    Parameters
    ----------
    path
        A local ``.h5ad`` of the data (or a folder holding
        ``SrivatsanTrapnell2020_sciplex3.h5ad``). Without it, scPerturb's file (several GB) is
        downloaded from Zenodo into the cache folder (``$MICHIGAN_DATA_DIR`` or pooch's user
        cache) **without a checksum**: none could be verified when this loader was written.
    paper_subset
        Keep the paper's selection: the pathways treated in every cell line and, for each, the
        compound with the most cells (controls dropped).

    Returns
    -------
    AnnData with integer counts (CSR) in ``.X`` and ``.layers["counts"]``; ``.obs``:
    ``cell_line``, ``drug`` (the compound), and ``dose`` and ``pathway`` when the file has
    them.

    Examples
    --------
    >>> import michigan as mg
    >>> adata = mg.datasets.sciplex(paper_subset=True)  # doctest: +SKIP
    >>> sorted(adata.obs["cell_line"].unique())  # doctest: +SKIP
    ['A549', 'K562', 'MCF7']
    """
    file = _locate(path, _SCIPLEX, "sciplex")
    adata = _with_counts(_read_h5ad(file), file)
    _standardise(adata, file, "cell_line", ("cell_line", "cell_type", "celltype"))
    _standardise(adata, file, "drug", ("drug", "product_name", "perturbation", "treatment"))
    _standardise(adata, file, "dose", ("dose", "dose_value"), required=False)
    _standardise(adata, file, "pathway", ("pathway", "pathway_level_1"), required=False)
    if paper_subset:
        adata = _paper_drug_subset(adata, file)
    return adata


def _locate(path: str | os.PathLike | None, remote: _Remote, loader: str) -> Path:
    """The local file: ``path`` (a file, or a folder holding ``remote.filename``) or a download."""
    if path is not None:
        file = Path(path).expanduser()
        if file.is_dir():
            file = file / remote.filename
        if not file.is_file():
            raise FileNotFoundError(
                f"{file} does not exist. Download {remote.description} from {remote.url} and "
                f"pass its path: michigan.datasets.{loader}(path='/path/to/{remote.filename}'), "
                "or pass path=None to download it."
            )
        return file
    return _download(remote, loader)


def _download(remote: _Remote, loader: str, argument: str = "path") -> Path:
    cache = Path(os.environ.get(_CACHE_ENV) or pooch.os_cache("michigan"))
    try:
        fetched = pooch.retrieve(
            remote.url, known_hash=remote.known_hash, fname=remote.filename, path=cache
        )
    except ValueError as error:  # pooch: the file's hash differs from known_hash
        raise ValueError(
            f"the download of {remote.filename} ({remote.description}) from {remote.url} does "
            f"not match its recorded checksum {remote.known_hash} ({error}); the file may be "
            f"damaged or changed upstream — delete {cache / remote.filename} and try again, or "
            f"pass a verified local copy: michigan.datasets.{loader}({argument}=...)"
        ) from None
    except OSError as error:  # requests' connection errors are OSErrors too
        raise ConnectionError(
            f"Could not download {remote.description} from {remote.url} ({error}). Are you "
            f"offline? Download it on a machine with internet access and pass its path: "
            f"michigan.datasets.{loader}({argument}='/path/to/{remote.filename}'), or put it at "
            f"{cache / remote.filename} (set ${_CACHE_ENV} to use another cache folder)."
        ) from error
    return Path(fetched)


def _read_h5ad(file: Path) -> AnnData:
    try:
        return ad.read_h5ad(file)
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"{file} is not a readable .h5ad file ({error}); pass the .h5ad file itself"
        ) from error


def _with_counts(adata: AnnData, file: Path) -> AnnData:
    """The data with its integer counts in ``.X`` and ``.layers["counts"]`` (int32 CSR)."""
    candidates = [("layers['counts']", adata.layers.get("counts"), adata.var)]
    candidates.append((".X", adata.X, adata.var))
    if adata.raw is not None:
        candidates.append((".raw.X", adata.raw.X, adata.raw.var))
    for _, matrix, var in candidates:
        if matrix is not None and _holds_counts(matrix):
            counts = sp.csr_matrix(matrix, dtype=np.int32)
            counts.eliminate_zeros()
            layers = {}
            if var is adata.var:
                layers = {key: value for key, value in adata.layers.items() if key != "counts"}
            result = AnnData(
                X=counts,
                obs=adata.obs.copy(),
                var=var.copy(),
                obsm=dict(adata.obsm),
                layers=layers,
                uns=dict(adata.uns),
            )
            result.layers["counts"] = counts.copy()
            return result
    places = ", ".join(name for name, _, _ in candidates)
    raise ValueError(
        f"{file} holds no raw counts: none of {places} holds non-negative integers. Pass a file "
        "with the raw counts (the original download does), or store them in .layers['counts']."
    )


def _holds_counts(matrix: object) -> bool:
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if not np.issubdtype(values.dtype, np.number):
        return False
    if values.size == 0:
        return True
    return bool(values.min() >= 0 and np.all(values == np.round(values)) and values.max() < 2**31)


def _standardise(
    adata: AnnData,
    file: Path,
    name: str,
    candidates: Sequence[str],
    values: Mapping[str, str] | None = None,
    *,
    required: bool = True,
) -> None:
    """Put the first of ``candidates`` found in ``.obs`` under ``name`` (renaming ``values``)."""
    source = next((column for column in candidates if column in adata.obs), None)
    if source is None:
        if not required:
            return
        raise ValueError(
            f"{file} has none of the .obs columns {list(candidates)} that the loader reads as "
            f"{name!r}; its columns are {list(adata.obs.columns)}. Add one of them, named "
            f"{name!r}, to .obs."
        )
    column = adata.obs[source]
    if values is not None:
        column = column.astype(str).map(lambda value: values.get(value.lower(), value))
    if not pd.api.types.is_numeric_dtype(column):
        column = column.astype("category")
    adata.obs[name] = column


def _read_metadata(file: Path, metadata_path: str | os.PathLike | None) -> pd.DataFrame:
    if metadata_path is None:
        beside = file.with_name(_TABULA_MURIS_METADATA.filename)
        metadata_file = (
            beside
            if beside.is_file()
            else _download(_TABULA_MURIS_METADATA, "tabula_muris", "metadata_path")
        )
    else:
        metadata_file = Path(metadata_path).expanduser()
        if not metadata_file.is_file():
            raise FileNotFoundError(
                f"{metadata_file} does not exist. Download {_TABULA_MURIS_METADATA.description} "
                f"from {_TABULA_MURIS_METADATA.url} and pass it as metadata_path="
            )
    return pd.read_csv(metadata_file, index_col=0, dtype=str)


def _attach_metadata(adata: AnnData, metadata: pd.DataFrame, file: Path) -> AnnData:
    """Join per-cell annotations on the cell names (cells may be the columns of the file)."""
    if metadata.index.isin(adata.obs_names).sum() < metadata.index.isin(adata.var_names).sum():
        adata = adata.T.copy()
    shared = adata.obs_names.intersection(metadata.index)
    if len(shared) == 0:
        raise ValueError(
            f"no cell of {file} appears in the metadata; pass the TM_facs_metadata.csv that "
            "belongs to this file as metadata_path="
        )
    adata.obs = adata.obs.join(metadata.loc[shared], how="left")
    return adata


def _paper_drug_subset(adata: AnnData, file: Path) -> AnnData:
    """One compound per pathway treated in every cell line: the one with the most cells."""
    if "pathway" not in adata.obs:
        raise ValueError(f"{file} has no pathway annotation; the paper subset needs one")
    obs = adata.obs[["cell_line", "drug", "pathway"]].astype(str)
    treated = ~obs["drug"].str.lower().isin(_CONTROL_DRUGS) & ~obs["pathway"].isin(
        ["nan", "", "None"]
    )
    lines_per_pathway = obs[treated].groupby("pathway")["cell_line"].nunique()
    common = lines_per_pathway.index[lines_per_pathway == obs["cell_line"].nunique()]
    in_common = treated & obs["pathway"].isin(common)
    sizes = obs[in_common].groupby(["pathway", "drug"]).size().reset_index(name="n_cells")
    chosen = sizes.sort_values(["n_cells", "drug"], ascending=[False, True]).drop_duplicates(
        "pathway"
    )
    keep = in_common & obs["drug"].isin(chosen["drug"])
    return adata[keep.to_numpy()].copy()
