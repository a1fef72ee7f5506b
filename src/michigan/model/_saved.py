"""Reading a saved model's ``model.pt``, with errors that name the file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
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
