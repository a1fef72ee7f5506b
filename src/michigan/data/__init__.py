from ._holdout import hold_out
from ._in_memory import InMemoryDataSplitter, TensorDictDataset, registry_tensors

__all__ = ["InMemoryDataSplitter", "TensorDictDataset", "hold_out", "registry_tensors"]
