from ._in_memory import InMemoryDataSplitter, TensorDictDataset, registry_tensors

__all__ = ["InMemoryDataSplitter", "TensorDictDataset", "registry_tensors"]
