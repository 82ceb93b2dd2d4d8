"""Downsampled ImageNet 32×32 and 64×64 (Chrabaszcz, Loshchilov & Hutter, 2017,
arXiv:1707.08819), the paper's pre-training source (Hendrycks et al., 2019, §3).

Both official formats are read from the data root:

* npz (preferred: loaded with ``allow_pickle=False``): ``Imagenet32_train_npz/
  train_data_batch_1.npz`` … ``_10.npz`` and ``Imagenet32_val_npz/val_data.npz``;
* pickled batches: ``Imagenet32_train/train_data_batch_1`` … ``_10`` and
  ``Imagenet32_val/val_data``. Unpickling can execute code: they are read by
  :func:`lib.data.safe_pickle.read_data_pickle`, which refuses anything but
  dicts, lists, strings, bytes, numbers and numpy arrays.

(``Imagenet64_*`` likewise; the 64×64 train set may also be split into
``Imagenet64_train_part1``/``_part2`` folders.) Each file holds ``data``
(N×3·S·S uint8, channel-planar R, G, B) and ``labels`` 1..1000 in the ILSVRC
devkit's ``map_clsloc.txt`` order; they become 0..999. ``split='test'`` is the
official validation set (50,000 images).

``exclude=`` removes classes (a shipped list name, ``"cifar10_related"`` or
``"tiny_imagenet"``, or an iterable of 0-based labels) and renumbers the rest
0..K'−1 in their original order; ``num_classes`` is then K'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.class_exclusion import (
    NUM_IMAGENET_CLASSES,
    imagenet_class_names,
    resolve_exclusion,
)
from lib.data.errors import DatasetNotFoundError
from lib.data.npz import read_npz
from lib.data.registry import register
from lib.data.safe_pickle import read_data_pickle

_SOURCE = ("Chrabaszcz, Loshchilov & Hutter, A Downsampled Variant of ImageNet as an "
           "Alternative to the CIFAR datasets, arXiv:1707.08819, 2017; "
           "https://patrykchrabaszcz.github.io/Imagenet32/")
_LICENCE = "ImageNet terms of access (non-commercial research and educational use)"
_NUM_TRAIN_BATCHES = 10


def _info(size: int) -> DatasetInfo:
    return DatasetInfo(
        name=f"imagenet{size}", num_classes=NUM_IMAGENET_CLASSES, image_size=size, channels=3,
        source=_SOURCE, licence=_LICENCE,
        how_to_get=(f"log in at https://image-net.org/download-images, download "
                    f"'Imagenet{size}_train_npz' and 'Imagenet{size}_val_npz' (Downsampled "
                    f"ImageNet {size}x{size}; or the pickled 'Imagenet{size}_train'/"
                    f"'Imagenet{size}_val') and unzip them into the data root"),
        class_names=tuple(imagenet_class_names()))


IMAGENET32_INFO = _info(32)
IMAGENET64_INFO = _info(64)


def _batch_files(size: int, split: str) -> tuple[list[str], list[str]]:
    """(file stems, candidate folders) of one split, npz folders first."""
    if split == "train":
        stems = [f"train_data_batch_{i}" for i in range(1, _NUM_TRAIN_BATCHES + 1)]
        folders = [f"Imagenet{size}_train", f"Imagenet{size}_train_part1",
                   f"Imagenet{size}_train_part2"]
    else:
        stems, folders = ["val_data"], [f"Imagenet{size}_val"]
    return stems, [f + "_npz" for f in folders] + folders


def _find(root: Path, stem: str, folders: list[str]) -> Path | None:
    for folder in folders:
        for name in (stem + ".npz", stem):
            path = root / folder / name
            if path.is_file():
                return path
    return None


def _read_batch(path: Path, size: int, how_to_get: str) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".npz":
        batch = read_npz(path, ("data", "labels"),
                         f"Replace it with the published file: {how_to_get}")
    else:
        batch = read_data_pickle(path, how_to_get)
    data, labels = batch["data"], batch["labels"]
    data = np.asarray(data, dtype=np.uint8).reshape(-1, 3, size, size)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 1 or labels.max() > NUM_IMAGENET_CLASSES):
        raise ValueError(f"{path}: labels must be 1..1000 (map_clsloc ids), "
                         f"got range {labels.min()}..{labels.max()}")
    return data, labels - 1


class _Growing:
    """A preallocated uint8 image buffer filled batch by batch (grows if needed)."""

    def __init__(self, capacity: int, shape: tuple[int, ...]):
        self.images = np.empty((capacity, *shape), dtype=np.uint8)
        self.labels = np.empty(capacity, dtype=np.int64)
        self.n = 0

    def add(self, images: np.ndarray, labels: np.ndarray) -> None:
        end = self.n + len(images)
        if end > len(self.images):
            grow = max(end, int(len(self.images) * 1.25))
            self.images = np.resize(self.images, (grow, *self.images.shape[1:]))
            self.labels = np.resize(self.labels, grow)
        self.images[self.n:end] = images
        self.labels[self.n:end] = labels
        self.n = end

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.images[:self.n], self.labels[:self.n]
        if self.n < 0.95 * len(self.images):  # do not pin a mostly empty buffer
            images = images.copy()
        return images, labels.copy()


def _paths(info: DatasetInfo, split: str, root: Path) -> list[Path]:
    """The batch files of ``split`` (npz preferred); :class:`DatasetNotFoundError`
    if any is missing."""
    root = Path(root)
    stems, folders = _batch_files(info.image_size, split)
    paths = [_find(root, stem, folders) for stem in stems]
    if all(p is None for p in paths):
        raise DatasetNotFoundError(info.name, root / folders[0], info.how_to_get,
                                   detail=f"looked in {', '.join(folders)} for {stems[0]}(.npz)")
    missing = [stem for stem, p in zip(stems, paths) if p is None]
    if missing:
        raise DatasetNotFoundError(info.name, root / folders[0], info.how_to_get,
                                   detail="incomplete download, missing: " + ", ".join(missing))
    return paths


def _load(info: DatasetInfo, split: str, root: Path, exclude) -> ImageDataset:
    size = info.image_size
    excluded = resolve_exclusion(exclude)
    paths = _paths(info, split, root)

    # old label -> new label (-1 = excluded); kept classes keep their relative order
    remap = np.full(NUM_IMAGENET_CLASSES, -1, dtype=np.int64)
    kept = np.setdiff1d(np.arange(NUM_IMAGENET_CLASSES), excluded)
    remap[kept] = np.arange(len(kept))

    buffer = None
    for path in paths:
        data, labels = _read_batch(path, size, info.how_to_get)
        new = remap[labels]
        keep = new >= 0
        if buffer is None:  # batches are equal-sized (the last has < 10 extra)
            capacity = int(keep.sum()) * len(paths) + 16 * len(paths)
            buffer = _Growing(capacity, (3, size, size))
        if keep.all():
            buffer.add(data, new)
        else:
            buffer.add(data[keep], new[keep])
        del data
    images, labels = buffer.result()
    names = info.class_names
    return ImageDataset(images, labels, len(kept), info,
                        class_names=[names[i] for i in kept] if names else None)


def _check(info: DatasetInfo):
    """The registry's "is it there" of ``info`` (``exclude`` needs no other files)."""
    return lambda split, root, exclude=None: _paths(info, split, root)


@register(IMAGENET32_INFO, check=_check(IMAGENET32_INFO))
def imagenet32(split: str, root: Path, exclude=None) -> ImageDataset:
    """Downsampled ImageNet 32×32: 1,281,167 train / 50,000 test (val) images."""
    return _load(IMAGENET32_INFO, split, root, exclude)


@register(IMAGENET64_INFO, check=_check(IMAGENET64_INFO))
def imagenet64(split: str, root: Path, exclude=None) -> ImageDataset:
    """Downsampled ImageNet 64×64: 1,281,167 train / 50,000 test (val) images."""
    return _load(IMAGENET64_INFO, split, root, exclude)
