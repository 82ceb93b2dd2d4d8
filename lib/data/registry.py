"""Dataset registry: ``name -> builder`` (design.md §6).

Each module of :data:`DATASET_MODULES` registers its datasets with
``@register``; the registry imports those modules itself on its first lookup
(no registration by import side effect). The front door is
:func:`get_dataset`; :func:`list_datasets` lists the names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lib.data.base import DatasetInfo, ImageDataset
from lib.registry import Registry
from lib.storage import declare
from lib.validation import check_choice

DATASET_MODULES = (
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
_BUILDERS: Registry[Callable[..., ImageDataset]] = Registry(
    "name", providers=tuple(f"lib.data.{module}" for module in DATASET_MODULES))
_INFOS: dict[str, DatasetInfo] = {}
_CHECKS: dict[str, Callable[..., None]] = {}

SPLITS = ("train", "test")


def register(info: DatasetInfo, check: Callable[..., None] | None = None):
    """Decorator registering ``builder(split, root, **options) -> ImageDataset``.

    ``check(split, root, **options)``, for a dataset read from the data root,
    raises :class:`~lib.data.errors.DatasetNotFoundError` when its files are
    not there, without reading them (:func:`check_present`)."""

    def wrap(builder):
        _BUILDERS.add(info.name, builder)
        _INFOS[info.name] = info
        if check is not None:
            _CHECKS[info.name] = check
        return builder

    return wrap


def dataset_names() -> list[str]:
    """Every registered dataset name, sorted."""
    return sorted(_BUILDERS)


list_datasets = dataset_names


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset."""
    _BUILDERS.get(name)  # an unknown name fails here, listing the valid ones
    return _INFOS[name]


def default_root() -> Path:
    """The data root: ``$DATA_ROOT`` if set and not empty, else ``~/data``
    (an empty value never means the current directory)."""
    return Path(os.environ.get("DATA_ROOT") or "~/data").expanduser()


declare("DATA_ROOT", default_root, "the data root")


def resolve_root(root=None) -> Path:
    """``root`` as a path; ``None`` or an empty string: :func:`default_root`."""
    return default_root() if root is None or str(root) == "" else Path(root).expanduser()


def reads_data_root(name: str) -> bool:
    """Whether dataset ``name`` is read from the data root (else it is
    generated or ships with a package)."""
    _BUILDERS.get(name)
    return name in _CHECKS


def check_present(name: str, split: str = "train", root=None, **options) -> None:
    """Raise :class:`~lib.data.errors.DatasetNotFoundError` (naming the
    dataset, where it looked and how to get it) when the files that
    ``get_dataset(name, split, root, **options)`` reads are missing; a cheap
    look at the file system that reads no data. Generated datasets always pass."""
    _BUILDERS.get(name)
    check_choice("split", split, SPLITS)
    if name in _CHECKS:
        _CHECKS[name](split=split, root=resolve_root(root), **options)


def get_dataset(name: str, split: str = "train", root=None, **options) -> ImageDataset:
    """Load dataset ``name`` (``split`` is ``train`` or ``test``).

    ``root`` defaults to :func:`default_root`. ``options`` go to the dataset's
    builder (e.g. ``num_classes=``/``per_class=`` for ``fractal``,
    ``exclude=`` for the Downsampled ImageNet variants). An unknown name raises
    ``ValueError`` listing the valid names.
    """
    builder = _BUILDERS.get(name)
    check_choice("split", split, SPLITS)
    return builder(split=split, root=resolve_root(root), **options)
