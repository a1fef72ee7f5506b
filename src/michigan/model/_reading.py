"""Reading a user's AnnData for a trained model: genes matched by name, nothing written."""

from __future__ import annotations

from anndata import AnnData
from scvi import REGISTRY_KEYS

from .._genes import gene_order
from .._validation import validate_expression
from ._backed import refuse_unregistered_backed


class GeneMatchingMixin:
    """``_validate_anndata`` for scvi-tools models that reads new data safely.

    scvi-tools compares only the number of genes of a new AnnData and registers it in place
    (writing ``_scvi_*`` columns into ``.obs`` and a uuid into ``.uns``). Here, an AnnData
    other than the training data has its genes matched to the model's by name (reordered
    when they are the same set, an error naming them otherwise), and unless it was set up
    with the model's ``setup_anndata``, the model registers a light copy (the expression
    matrix shared, or reordered, ``.obs`` and ``.obsm``), so that read-only calls such as
    ``get_latent_representation`` leave the user's AnnData exactly as it was.
    """

    #: uuid of the copy registered by the last read; its manager is dropped at the next one.
    _reading_copy_uuid: str | None = None

    def _validate_anndata(self, adata: AnnData | None = None, copy_if_view: bool = True):
        if adata is None or self.adata is None or adata is self.adata:
            return super()._validate_anndata(adata, copy_if_view)
        if not isinstance(adata, AnnData):
            raise TypeError(f"expected an AnnData, got {type(adata).__name__}")
        order = gene_order(adata.var_names, self.adata.var_names)
        if order is None and self._is_registered(adata):
            return super()._validate_anndata(adata, copy_if_view)
        refuse_unregistered_backed(adata, type(self).__name__)
        reading_copy = self._reading_copy(adata, order)
        validated = super()._validate_anndata(reading_copy, copy_if_view=False)
        self._forget_reading_copy()
        self._reading_copy_uuid = reading_copy.uns.get("_scvi_uuid")
        return validated

    def _is_registered(self, adata: AnnData) -> bool:
        """Whether ``adata`` was set up for this model class or already read by this model."""
        uuid = adata.uns.get("_scvi_uuid")
        instance_store = self._per_instance_manager_store.get(self.id, {})
        return uuid is not None and (
            uuid in instance_store or uuid in self._setup_adata_manager_store
        )

    def _reading_copy(self, adata: AnnData, order) -> AnnData:
        """A new AnnData with ``adata``'s expression (genes in the model's order) and obs.

        ``.obs`` is copied; the matrix (unless reordered) and the ``.obsm`` arrays are shared.
        """
        layer = self.adata_manager.data_registry[REGISTRY_KEYS.X_KEY].attr_key
        validate_expression(adata, layer)
        matrix = adata.X if layer is None else adata.layers[layer]
        var = adata.var
        if order is not None:
            matrix, var = matrix[:, order], var.iloc[order]
        reading_copy = AnnData(obs=adata.obs.copy(), var=var.copy(), obsm=dict(adata.obsm))
        if layer is None:
            reading_copy.X = matrix
        else:
            reading_copy.layers[layer] = matrix
        return reading_copy

    def _forget_reading_copy(self) -> None:
        """Drop the manager (and the data it holds) of the previous read's copy."""
        uuid = self._reading_copy_uuid
        if uuid is not None:
            self._per_instance_manager_store.get(self.id, {}).pop(uuid, None)
            self._reading_copy_uuid = None
