"""Shipped ImageNet class lists and the ``exclude=`` option of Downsampled ImageNet.

The paper (Hendrycks et al., 2019, §3) pre-trains on Downsampled ImageNet with
the CIFAR-10-related classes removed (it reports 153) and, for Tiny ImageNet,
with Tiny ImageNet's 200 classes removed. Neither list was published; the lists
shipped in ``lib/data/class_lists/`` are rebuilt from WordNet 3.0 and public
class lists by ``python -m lib.data.class_lists.derive`` (see the README there).
Indices are 0-based Downsampled-ImageNet labels (devkit ``map_clsloc.txt`` id − 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from lib.validation import check_choice

CLASS_LIST_DIR = Path(__file__).resolve().parent / "class_lists"
CLASS_LISTS = ("cifar10_related", "tiny_imagenet")
NUM_IMAGENET_CLASSES = 1000


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=None)
def _imagenet_rows() -> tuple[tuple[str, str], ...]:
    rows = tuple((r[0].strip(), r[1].strip()) for r in _rows(CLASS_LIST_DIR / "imagenet_wnids.txt"))
    if len(rows) != NUM_IMAGENET_CLASSES:
        raise RuntimeError(f"imagenet_wnids.txt has {len(rows)} classes, expected 1000")
    return rows


def imagenet_wnids() -> list[str]:
    """The 1000 wnids in Downsampled-ImageNet label order (index = 0-based label)."""
    return [w for w, _ in _imagenet_rows()]


def imagenet_class_names() -> list[str]:
    """The 1000 class names (as spelled in ``map_clsloc.txt``) in label order."""
    return [n for _, n in _imagenet_rows()]


def load_class_list(name: str) -> list[int]:
    """The 0-based Downsampled-ImageNet labels of shipped list ``name``, sorted.

    ``name`` is ``"cifar10_related"`` or ``"tiny_imagenet"``; anything else raises
    ``ValueError`` listing the valid names.
    """
    check_choice("name", name, CLASS_LISTS)
    return sorted(int(r[0]) for r in _rows(CLASS_LIST_DIR / f"{name}.txt"))


def resolve_exclusion(exclude) -> list[int]:
    """``exclude=`` as a sorted list of 0-based labels.

    Accepts ``None`` (nothing), a shipped list name, or an iterable of integer
    labels in ``[0, 999]``.
    """
    if exclude is None:
        return []
    if isinstance(exclude, str):
        return load_class_list(exclude)
    if not isinstance(exclude, Iterable):
        raise TypeError(f"exclude={exclude!r}: expected a list name "
                        f"({', '.join(CLASS_LISTS)}) or an iterable of class indices")
    labels = set()
    for value in exclude:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"exclude contains {value!r}; class indices must be integers")
        value = int(value)
        if not 0 <= value < NUM_IMAGENET_CLASSES:
            raise ValueError(f"exclude contains {value}; class indices must be in [0, 999]")
        labels.add(value)
    return sorted(labels)
