"""Datasets: the paper's (read from a data root), the embedded offline ones,
and the on-device batch loader (design.md §5).

Front door: :func:`get_dataset`. Importing this package registers every
dataset module listed in ``_DATASET_MODULES``.
"""

from importlib import import_module

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.errors import DatasetNotFoundError
from lib.data.registry import dataset_info, dataset_names, default_root, get_dataset

_DATASET_MODULES = (
    # real datasets, read from a data root
    "cifar",
    "downsampled_imagenet",
    "tiny_imagenet",
    "ood_real",
    # embedded, offline
    "fashion_mnist",
    "fractal",
    "synthetic_ood",
    "offline_ood",
)
for _module in _DATASET_MODULES:
    import_module(f"lib.data.{_module}")

__all__ = [
    "DatasetInfo", "ImageDataset", "DatasetNotFoundError",
    "dataset_info", "dataset_names", "default_root", "get_dataset",
]
