"""Datasets: the paper's (read from a data root), the embedded offline ones,
and the on-device batch loader (design.md §5).

Front door: :func:`get_dataset`; :func:`list_datasets` names them. The
registry (:mod:`lib.data.registry`) imports the dataset modules itself on its
first lookup.
"""

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.errors import DatasetNotFoundError
from lib.data.registry import (dataset_info, dataset_names, default_root, get_dataset,
                               list_datasets)

__all__ = [
    "DatasetInfo", "ImageDataset", "DatasetNotFoundError",
    "dataset_info", "dataset_names", "default_root", "get_dataset", "list_datasets",
]
