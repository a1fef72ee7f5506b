"""Saved models: reading ``model.pt`` with errors that name the file, and a checked ``load``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from anndata import AnnData
from torch import nn


def saved_model_file(dir_path: str | Path, prefix: str | None = None) -> Path:
    """The path of the ``model.pt`` that :meth:`save` writes into ``dir_path``."""
    return Path(dir_path) / f"{prefix or ''}model.pt"


def read_saved_model(dir_path: str | Path, prefix: str | None = None) -> dict:
    """Load the dictionary in a saved model's ``model.pt``, naming the file when it fails.

    Parameters
    ----------
    dir_path
        Folder written by a model's ``save``.
    prefix
        Prefix of the file names.

    Returns
    -------
    The saved dictionary (``model_state_dict``, ``var_names``, ``attr_dict``).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it cannot be read (truncated, or not written by ``save``).

    Examples
    --------
    >>> saved = read_saved_model("tcvae/")
    >>> saved["var_names"][:3]
    """
    model_file = saved_model_file(dir_path, prefix)
    if not model_file.is_file():
        raise FileNotFoundError(
            f"no saved model at {model_file}; pass the folder written by model.save(...) (and "
            "the prefix it was saved with, if any)"
        )
    try:
        saved = torch.load(model_file, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged files
        raise ValueError(
            f"could not read {model_file} ({type(error).__name__}: {error}); the file is "
            "truncated or was not written by model.save() — save the model again"
        ) from None
    if not isinstance(saved, dict) or "model_state_dict" not in saved:
        raise ValueError(
            f"{model_file} is not a saved michigan/scvi-tools model (no model_state_dict); "
            "pass the folder written by model.save(...)"
        )
    return saved


def module_fingerprint(module: nn.Module) -> str:
    """SHA-256 of a network's parameters and buffers, to recognise the same trained weights.

    A model that saves another model beside it (MichiGAN and its β-TCVAE in ``tcvae/``) can
    store this at save time and compare it at load time, so that a foreign sub-folder is an
    error rather than a silent mismatch.

    Examples
    --------
    >>> module_fingerprint(model.module)[:12]
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_saved_genes(saved: dict, adata: AnnData) -> None:
    """Raise unless ``adata`` has the saved model's genes (``saved["var_names"]``), in order."""
    var_names = np.asarray(saved.get("var_names", []), dtype=str)
    if len(var_names) and not np.array_equal(var_names, np.asarray(adata.var_names, dtype=str)):
        shared = len(np.intersect1d(var_names, adata.var_names))
        raise ValueError(
            f"the model was trained on {len(var_names)} genes but adata has {adata.n_vars} "
            f"({shared} in common, or in another order); subset and order the genes as in "
            "training, e.g. adata = adata[:, saved_var_names].copy()"
        )


class SavedModelMixin:
    """``load`` for michigan models: the saved files and the genes are checked first.

    A missing or damaged ``model.pt``, a folder saved without its AnnData when none is given,
    and an AnnData with other genes each raise an error that names the problem, before
    scvi-tools reads anything. A model that saves parts beside itself (MichiGAN's β-TCVAE)
    restores them in :meth:`_load_parts`.
    """

    @classmethod
    def load(
        cls,
        dir_path: str,
        adata: AnnData | None = None,
        accelerator: str = "auto",
        device: int | str = "auto",
        prefix: str | None = None,
        **kwargs,
    ):
        """Load a model written by :meth:`save`, checking first that ``adata`` fits it.

        Parameters
        ----------
        dir_path
            Folder written by :meth:`save`.
        adata
            AnnData with the genes of the training data, set up like it; defaults to the one
            saved with ``save_anndata=True``.
        accelerator, device
            Where to put the model (``"auto"`` picks what exists).
        prefix
            Prefix of the saved file names.
        **kwargs
            Passed to :meth:`scvi.model.base.BaseModelClass.load`.

        Examples
        --------
        >>> model.save("model/", overwrite=True)
        >>> model = type(model).load("model/", adata=adata)
        """
        dir_path = str(dir_path)
        saved = read_saved_model(dir_path, prefix)
        if adata is None:
            if not (Path(dir_path) / f"{prefix or ''}adata.h5ad").exists():
                raise ValueError(
                    f"no AnnData was saved in {dir_path}; pass the one the model was trained "
                    f"on: {cls.__name__}.load(dir_path, adata=adata)"
                )
        else:
            check_saved_genes(saved, adata)
        model = super().load(
            dir_path, adata=adata, accelerator=accelerator, device=device, prefix=prefix, **kwargs
        )
        model._load_parts(dir_path, prefix, accelerator, device)
        return model

    def _load_parts(
        self, dir_path: str, prefix: str | None, accelerator: str, device: int | str
    ) -> None:
        """Hook: restore what the model saved beside its own files (nothing by default)."""
