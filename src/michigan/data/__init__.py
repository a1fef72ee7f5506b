from ._holdout import hold_out
from ._in_memory import MIN_BATCH_SIZE, InMemoryDataSplitter, TensorDictDataset, registry_tensors

__all__ = [
    "MIN_BATCH_SIZE",
    "InMemoryDataSplitter",
    "TensorDictDataset",
    "hold_out",
    "registry_tensors",
]
