"""Work-arounds for versions of michigan's dependencies.

* scvi-tools 1.4 calls ``rich.pretty.pprint`` (in ``view_anndata_setup`` and
  ``AnnDataManager.view_registry``) without importing ``rich.pretty``; rich 14 imported it as
  a side effect of ``rich.console``, rich 15 no longer does, so the call fails with
  ``module 'rich' has no attribute 'pretty'``. Importing the sub-module here (once, with the
  models) makes the attribute exist for scvi-tools.
"""

from __future__ import annotations

import rich.pretty  # noqa: F401  (sets the attribute scvi-tools reads)
