"""Tiny ImageNet (CS231n, Stanford; Le & Yang, 2015): 200 classes, 64×64 RGB,
500 train and 50 validation images per class.

Official layout under ``root/tiny-imagenet-200``: ``wnids.txt`` (class order =
label order), ``words.txt`` (names), ``train/<wnid>/images/*.JPEG`` and
``val/images/*.JPEG`` labelled by ``val/val_annotations.txt``. The official
test set has no labels, so ``split='test'`` reads ``val/`` (as the paper does).

Decoding 110,000 JPEGs takes minutes, so the decoded arrays are cached once as
``<cache dir>/tiny_imagenet/<split>-<hash of the folder's path>.npz``
(:func:`lib.data.cache.cache_dir`; never in the data root, which is only read),
written atomically and read with ``allow_pickle=False``; a change in the file
list invalidates the cache, and a damaged one is named and decoded again.
Pass ``cache=False`` to neither read nor write it.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from lib.atomic_io import atomic_write_npz
from lib.data.base import DatasetInfo, ImageDataset
from lib.data.cache import cache_dir
from lib.data.errors import DataFileError, DatasetNotFoundError
from lib.data.image_folder import decode_images
from lib.data.npz import read_npz
from lib.data.registry import register

FOLDER = "tiny-imagenet-200"
TINY_IMAGENET_INFO = DatasetInfo(
    name="tiny_imagenet", num_classes=200, image_size=64, channels=3,
    source="Le & Yang, Tiny ImageNet Visual Recognition Challenge (CS231n), 2015; "
           "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
    licence="ImageNet terms of access (non-commercial research and educational use)",
    how_to_get="download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it "
               "into the data root (giving root/tiny-imagenet-200/wnids.txt)",
)


def _wnids(base: Path) -> list[str]:
    """The class ids in label order; :class:`DatasetNotFoundError` without ``wnids.txt``."""
    wnids_file = base / "wnids.txt"
    if not wnids_file.is_file():
        raise DatasetNotFoundError(TINY_IMAGENET_INFO.name, base, TINY_IMAGENET_INFO.how_to_get)
    return [w.strip() for w in wnids_file.read_text().splitlines() if w.strip()]


def _split_files(base: Path, split: str, wnids: list[str]) -> list[Path]:
    """The folders (train) or the annotation file (test) of ``split``;
    :class:`DatasetNotFoundError` if one is missing."""
    if split == "train":
        needed = [base / "train" / wnid / "images" for wnid in wnids]
        missing = next((p for p in needed if not p.is_dir()), None)
    else:
        needed = [base / "val" / "val_annotations.txt"]
        missing = None if needed[0].is_file() else needed[0]
    if missing is not None:
        raise DatasetNotFoundError(TINY_IMAGENET_INFO.name, missing,
                                   TINY_IMAGENET_INFO.how_to_get, detail="incomplete extraction")
    return needed


def _check(split: str, root: Path, cache: bool = True) -> None:
    """The registry's "is it there": the files listed, no image decoded."""
    base = Path(root) / FOLDER
    _split_files(base, split, _wnids(base))


def _listing(base: Path, split: str, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    """Image paths (sorted) and their labels for one split."""
    label_of = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    needed = _split_files(base, split, wnids)
    if split == "train":
        for wnid, folder in zip(wnids, needed):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
            paths += files
            labels += [label_of[wnid]] * len(files)
    else:
        annotations = needed[0]
        rows = [line.split("\t") for line in annotations.read_text().splitlines() if line.strip()]
        for name, wnid, *_ in sorted(rows):
            if wnid not in label_of:
                raise ValueError(f"{annotations}: {name} has wnid {wnid} not in wnids.txt")
            paths.append(base / "val" / "images" / name)
            labels.append(label_of[wnid])
    return paths, np.asarray(labels, dtype=np.int64)


def _fingerprint(base: Path, paths: list[Path], wnids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(wnids).encode())
    for p in paths:
        digest.update(str(p.relative_to(base)).encode() + b"\n")
    return digest.hexdigest()


def _class_names(base: Path, wnids: list[str]) -> tuple[str, ...]:
    words = base / "words.txt"
    if not words.is_file():
        return tuple(wnids)
    names = {}
    for line in words.read_text(encoding="utf-8", errors="replace").splitlines():
        wnid, _, text = line.partition("\t")
        names[wnid.strip()] = text.split(",")[0].strip()
    return tuple(names.get(w, w) for w in wnids)


def cache_path(base: Path, split: str) -> Path:
    """The decoded-array cache of ``split`` of the Tiny ImageNet folder ``base``."""
    where = hashlib.sha256(str(Path(base).resolve()).encode()).hexdigest()[:16]
    return cache_dir("tiny_imagenet") / f"{split}-{where}.npz"


@register(TINY_IMAGENET_INFO, check=_check)
def tiny_imagenet(split: str, root: Path, cache: bool = True) -> ImageDataset:
    """Tiny ImageNet (``split='test'`` = the labelled validation set), labels in
    ``wnids.txt`` order."""
    info = TINY_IMAGENET_INFO
    base = Path(root) / FOLDER
    wnids = _wnids(base)
    paths, labels = _listing(base, split, wnids)
    fingerprint = _fingerprint(base, paths, wnids)
    cache_file = cache_path(base, split)

    images = None
    if cache and cache_file.is_file():
        todo = "It is decoded again from the JPEG files."
        try:
            if str(read_npz(cache_file, ["fingerprint"], todo)["fingerprint"]) == fingerprint:
                images, labels = read_npz(cache_file, ["images", "labels"], todo).values()
        except DataFileError as error:
            warnings.warn(str(error))
    if images is None:
        images = decode_images(paths, info.image_size)
        if cache:
            try:
                atomic_write_npz(cache_file, images=images, labels=labels,
                                  fingerprint=np.asarray(fingerprint))
            except OSError as error:  # read-only cache folder: work without a cache
                warnings.warn(f"could not write the Tiny ImageNet cache {cache_file}: {error}")
    return ImageDataset(images, labels, len(wnids), info,
                        class_names=_class_names(base, wnids))
