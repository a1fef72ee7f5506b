"""The AnnData fields every michigan model registers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from anndata import AnnData
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LayerField

from .. import _compat  # noqa: F401  (rich.pretty for view_anndata_setup)
from .._docs import insert_docs
from .._genes import check_unique_var_names
from .._validation import validate_expression, validate_obs_keys
from ._backed import check_backed

#: Prefix of what scvi-tools writes into ``.obs`` and ``.uns`` when it registers an AnnData.
SCVI_PREFIX = "_scvi"


def check_no_missing_categories(adata: AnnData, keys: Sequence[str | None]) -> None:
    """Raise when a categorical ``.obs`` column (batches, labels) has missing values.

    Examples
    --------
    >>> check_no_missing_categories(adata, ["batch", "cell_type"])
    """
    for key in keys:
        if key is None:
            continue
        missing = pd.isna(adata.obs[key]).to_numpy()
        if missing.any():
            cells = ", ".join(repr(str(c)) for c in adata.obs_names[missing][:3])
            raise ValueError(
                f"adata.obs[{key!r}] has {int(missing.sum())} missing value(s) (NaN), e.g. in "
                f"cell(s) {cells}; fill them, e.g. adata.obs[{key!r}] = "
                f"adata.obs[{key!r}].astype(str) (NaN becomes the category 'nan'), or drop "
                "those cells"
            )


@contextmanager
def _rolled_back_on_error(adata: AnnData) -> Iterator[None]:
    """Undo what a registration wrote into ``.obs`` and ``.uns`` when it raises."""
    obs_columns = list(adata.obs.columns)
    scvi_obs = adata.obs[[c for c in obs_columns if c.startswith(SCVI_PREFIX)]].copy()
    scvi_uns = {k: v for k, v in adata.uns.items() if k.startswith(SCVI_PREFIX)}
    try:
        yield
    except BaseException:
        added = [c for c in adata.obs.columns if c not in obs_columns]
        adata.obs.drop(columns=added, inplace=True)
        for column in scvi_obs.columns:
            adata.obs[column] = scvi_obs[column]
        for key in [k for k in adata.uns if k.startswith(SCVI_PREFIX)]:
            del adata.uns[key]
        adata.uns.update(scvi_uns)
        raise


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

    Every check runs before anything is written (a backed AnnData that can be read by cell,
    unique gene names, a finite numeric matrix, existing ``.obs`` columns without missing
    values), and a registration
    that still fails is undone, so a call that raises leaves ``adata`` as it was.

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
    check_backed(adata, layer)
    validate_expression(adata, layer)
    check_unique_var_names(adata.var_names)
    validate_obs_keys(adata, [batch_key, labels_key])
    check_no_missing_categories(adata, [batch_key, labels_key])
    anndata_fields = [
        LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
        CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
        CategoricalObsField(REGISTRY_KEYS.LABELS_KEY, labels_key),
    ]
    adata_manager = AnnDataManager(fields=anndata_fields, setup_method_args=setup_method_args)
    with _rolled_back_on_error(adata):
        adata_manager.register_fields(adata, **kwargs)
    model_cls.register_manager(adata_manager)


class ExpressionSetupMixin:
    """``setup_anndata`` of every michigan model: the expression layer, batch and labels."""

    @classmethod
    @insert_docs
    def setup_anndata(
        cls,
        adata: AnnData,
        layer: str | None = None,
        batch_key: str | None = None,
        labels_key: str | None = None,
        **kwargs,
    ) -> None:
        """Register an AnnData with the model.

        %(setup_anndata_checks)s

        Parameters
        ----------
        %(setup_anndata_params)s

        Examples
        --------
        >>> import michigan as mg
        >>> adata = mg.datasets.pbmc68k()
        >>> mg.TCVAE.setup_anndata(adata, layer="counts", labels_key="bulk_labels")
        >>> mg.MichiGAN.setup_anndata(adata, layer="counts")
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        register_expression_fields(
            cls, adata, layer, batch_key, labels_key, setup_method_args, **kwargs
        )
