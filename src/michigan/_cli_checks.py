"""Checks of the command line's input, made before anything heavy is imported or trained.

Nothing here imports torch, scvi-tools, scanpy or anndata: ``michigan --help`` and every
input check stay fast, and a mistake is reported before minutes of training are spent.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

#: File a saved scvi-tools model folder always holds (``BaseModelClass.save``).
MODEL_FILE = "model.pt"
#: AnnData that ``save(..., save_anndata=True)`` writes next to it.
SAVED_ADATA_FILE = "adata.h5ad"


class UsageError(Exception):
    """A mistake in the command's input: reported in one line, with exit code 2."""


# -- values (argparse ``type=`` functions: argparse reports them as one-line errors) --------


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (e.g. a seed)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


# -- paths -----------------------------------------------------------------------------------


def h5ad_input(path: str, what: str = "input") -> Path:
    """An existing ``.h5ad`` file to read."""
    file = Path(path).expanduser()
    if not file.exists():
        raise UsageError(f"{what} {file} does not exist")
    if not file.is_file():
        raise UsageError(f"{what} {file} is not a file; pass an .h5ad file")
    if file.suffix != ".h5ad":
        raise UsageError(f"{what} {file} must be an .h5ad file (AnnData written by write_h5ad)")
    if not os.access(file, os.R_OK):
        raise UsageError(f"{what} {file} is not readable; check its permissions")
    return file


def h5ad_output(path: str, inputs: tuple[Path, ...] = ()) -> Path:
    """An ``.h5ad`` file to write, in an existing writable folder, that is none of ``inputs``."""
    output = Path(path).expanduser()
    if output.suffix != ".h5ad":
        raise UsageError(f"output must be an .h5ad file, got {output}")
    if output.is_dir():
        raise UsageError(f"output {output} is a folder; pass a file name ending in .h5ad")
    if any(output.resolve() == source.resolve() for source in inputs):
        raise UsageError(
            f"the output path is the input path ({output}); write to another file so that the "
            "input stays as it is"
        )
    if output.exists() and not os.access(output, os.W_OK):
        raise UsageError(f"output {output} exists and is not writable")
    writable_folder(output.resolve().parent, "output")
    return output


def writable_folder(folder: Path, what: str) -> None:
    """An existing folder the user may write into."""
    if not folder.is_dir():
        raise UsageError(f"{what}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: folder {folder} is not writable")


def output_folder(path: str, what: str) -> Path:
    """A folder to write into (created later, with its parents).

    The folder, or its closest ancestor that exists, must be a writable folder.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file; pass a folder name")
    existing = folder.resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{what} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder}: folder {existing} is not writable")
    return folder


def model_folder(path: str, data: Path | None) -> Path:
    """A folder written by a model's ``save``; without ``data`` it must hold its AnnData."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"model folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"model folder {folder} is a file; pass the folder the model is in")
    if not (folder / MODEL_FILE).is_file():
        raise UsageError(
            f"model folder {folder} holds no {MODEL_FILE}; pass a folder written by "
            "`michigan train --save-model` or model.save(...)"
        )
    if data is None and not (folder / SAVED_ADATA_FILE).is_file():
        raise UsageError(
            f"model folder {folder} holds no saved AnnData ({SAVED_ADATA_FILE}); pass the "
            "training data with --data, or save the model with save_anndata=True"
        )
    return folder
