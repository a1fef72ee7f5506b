from ._holdout import hold_out
from ._in_memory import (
    MIN_BATCH_SIZE,
    InMemoryDataSplitter,
    TensorDictDataset,
    densify_budget_bytes,
    registry_tensors,
)
from ._on_disk import OnDiskMatrix, is_on_disk, iter_row_blocks, row_sums

__all__ = [
    "MIN_BATCH_SIZE",
    "InMemoryDataSplitter",
    "OnDiskMatrix",
    "TensorDictDataset",
    "densify_budget_bytes",
    "hold_out",
    "is_on_disk",
    "iter_row_blocks",
    "registry_tensors",
    "row_sums",
]
