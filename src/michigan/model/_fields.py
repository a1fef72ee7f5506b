"""The AnnData fields every michigan model registers."""

from __future__ import annotations

from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LayerField

from .._validation import validate_expression, validate_obs_keys


def register_expression_fields(
    model_cls,
    adata: AnnData,
    layer: str | None,
    batch_key: str | None,
    labels_key: str | None,
    setup_method_args: dict,
    **kwargs,
) -> None:
    """Check the data, then register the expression layer, batch and labels with ``model_cls``.

    The checks run before anything is written, so a bad AnnData is left unchanged.

    Parameters
    ----------
    model_cls
        The scvi-tools model class whose ``setup_anndata`` is running.
    adata, layer, batch_key, labels_key
        As in ``setup_anndata``.
    setup_method_args
        ``model_cls._get_setup_method_args(**locals())`` of the calling ``setup_anndata``.
    **kwargs
        Passed to :meth:`scvi.data.AnnDataManager.register_fields`.
    """
    validate_expression(adata, layer)
    validate_obs_keys(adata, [batch_key, labels_key])
    anndata_fields = [
        LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
        CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
        CategoricalObsField(REGISTRY_KEYS.LABELS_KEY, labels_key),
    ]
    adata_manager = AnnDataManager(fields=anndata_fields, setup_method_args=setup_method_args)
    adata_manager.register_fields(adata, **kwargs)
    model_cls.register_manager(adata_manager)
