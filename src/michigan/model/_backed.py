"""Backed (on-disk) AnnData: what the models read from the file, and what they refuse."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anndata import AnnData
from scvi import settings
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from ..data import OnDiskMatrix, TensorDictDataset, registry_tensors


def is_backed(adata: AnnData) -> bool:
    """Whether ``adata`` was opened with ``anndata.read_h5ad(path, backed=...)``."""
    return bool(getattr(adata, "isbacked", False))


def check_backed(adata: AnnData, layer: str | None) -> None:
    """Check that a backed AnnData can be trained on; raise naming the fix when not.

    ``.X`` of a backed AnnData stays in the file and is read a minibatch at a time; its
    layers, ``.obs`` and ``.obsm`` are in memory (anndata reads them when it opens the file).
    Refused: a view of a backed AnnData (its rows are a subset of the file's) and a matrix
    stored by gene (CSC), which cannot be read a cell at a time.

    Examples
    --------
    >>> adata = anndata.read_h5ad("cells.h5ad", backed="r")
    >>> check_backed(adata, layer=None)
    """
    if not is_backed(adata):
        return
    if adata.is_view:
        raise ValueError(
            f"adata is a view of the cells in {adata.filename} (a subset of a backed "
            "AnnData); write the cells to a file of their own and open that one: "
            "adata.copy(filename='subset.h5ad'), then anndata.read_h5ad('subset.h5ad', "
            "backed='r')"
        )
    if layer is None:
        OnDiskMatrix.from_backed(adata.X)  # raises for CSC, with the way to rewrite it


def refuse_unregistered_backed(adata: AnnData, model_name: str) -> None:
    """Raise when a trained model is asked to read a backed AnnData it was not set up with.

    Reading new data registers a light in-memory copy of it; a backed file cannot be copied
    that way, but one set up with the model's ``setup_anndata`` is read from the file.
    """
    if is_backed(adata):
        raise ValueError(
            f"adata is backed by {adata.filename} and was not set up for this model; set it "
            f"up first, {model_name}.setup_anndata(adata, ...) with the training data's "
            "arguments (its genes in the model's order), and it is read from the file; or "
            "load it into memory: adata = adata.to_memory()"
        )


class BackedReadingMixin:
    """Inference minibatches of a backed AnnData read from its file, in order.

    scvi-tools' data loader indexes the backed matrix once per minibatch through anndata;
    this one reads each minibatch's rows as slices of the file
    (:class:`~michigan.data.OnDiskMatrix`), so :meth:`get_latent_representation` and the
    latent diagnosis after training stream over the file at little cost per cell.
    """

    def _make_data_loader(
        self,
        adata: AnnData,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
        shuffle: bool = False,
        data_loader_class=None,
        **data_loader_kwargs,
    ):
        if not is_backed(adata) or shuffle or data_loader_class is not None or data_loader_kwargs:
            return super()._make_data_loader(
                adata,
                indices=indices,
                batch_size=batch_size,
                shuffle=shuffle,
                data_loader_class=data_loader_class,
                **data_loader_kwargs,
            )
        manager = self.get_anndata_manager(adata, required=True)
        rows = np.arange(adata.n_obs) if indices is None else np.asarray(indices)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        dataset = TensorDictDataset(registry_tensors(manager), rows)
        sampler = BatchSampler(
            SequentialSampler(dataset), batch_size or settings.batch_size, drop_last=False
        )
        return DataLoader(dataset, sampler=sampler, batch_size=None)
