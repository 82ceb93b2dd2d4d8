"""Dataset registry: ``name -> builder`` (design.md §6).

Each module under ``lib.data`` registers its datasets with ``@register``; the
front door is :func:`get_dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lib.data.base import DatasetInfo, ImageDataset
from lib.registry import Registry
from lib.validation import check_choice

_BUILDERS: Registry[Callable[..., ImageDataset]] = Registry("name")
_INFOS: dict[str, DatasetInfo] = {}

SPLITS = ("train", "test")


def register(info: DatasetInfo):
    """Decorator registering ``builder(split, root, **options) -> ImageDataset``."""

    def wrap(builder):
        _BUILDERS.add(info.name, builder)
        _INFOS[info.name] = info
        return builder

    return wrap


def dataset_names() -> list[str]:
    """Every registered dataset name, sorted."""
    return sorted(_BUILDERS)


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset."""
    _BUILDERS.get(name)  # an unknown name fails here, listing the valid ones
    return _INFOS[name]


def default_root() -> Path:
    """The data root: ``$DATA_ROOT`` if set, else ``~/data``."""
    return Path(os.environ.get("DATA_ROOT", "~/data")).expanduser()


def get_dataset(name: str, split: str = "train", root=None, **options) -> ImageDataset:
    """Load dataset ``name`` (``split`` is ``train`` or ``test``).

    ``root`` defaults to :func:`default_root`. ``options`` go to the dataset's
    builder (e.g. ``num_classes=``/``per_class=`` for ``fractal``,
    ``exclude=`` for the Downsampled ImageNet variants). An unknown name raises
    ``ValueError`` listing the valid names.
    """
    builder = _BUILDERS.get(name)
    check_choice("split", split, SPLITS)
    root = default_root() if root is None else Path(root).expanduser()
    return builder(split=split, root=root, **options)
