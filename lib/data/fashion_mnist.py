"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747): the quick
preset's target dataset (design.md §5).

The original IDX files (plain or ``.gz``) are read with numpy from the first
folder that has them:

1. ``root/fashion-mnist/``
2. ``root/FashionMNIST/raw/`` (torchvision's layout)
3. the project's cache, ``<cache>/fashion_mnist/FashionMNIST/raw/``, where
   :func:`ensure_downloaded` (``make data``) downloads it with
   torchvision when no folder has it: the data root is only read
4. ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist``)
"""

from __future__ import annotations

import gzip
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.cache import cache_dir
from lib.data.errors import DatasetNotFoundError
from lib.data.generated import check_split, take_options
from lib.data.registry import register

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HOW_TO_GET = ("`apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files go to "
              "/usr/share/datasets/fashion-mnist/), or "
              "`torchvision.datasets.FashionMNIST(root, download=True)`, or copy "
              "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] into root/fashion-mnist/")
_PREFIX = {"train": "train", "test": "t10k"}
# IDX magic: two zero bytes, a type code (0x08 = uint8) and the number of dimensions.
_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}

INFO = DatasetInfo(
    name="fashion_mnist", num_classes=10, image_size=28, channels=1,
    source="Xiao, Rasul & Vollgraf, Fashion-MNIST: a Novel Image Dataset for "
           "Benchmarking Machine Learning Algorithms, arXiv:1708.07747, 2017",
    licence="MIT", how_to_get=HOW_TO_GET, class_names=CLASS_NAMES,
)


def read_idx(path, ndim: int) -> np.ndarray:
    """Read an uint8 IDX file (plain or gzip) with ``ndim`` dimensions.

    Raises ``ValueError`` naming the file when the magic number, the header or
    the payload size is wrong (a corrupt or truncated download)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read IDX file ({err}); the file is corrupt, "
                         "delete it and fetch it again") from err
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise ValueError(f"{path}: bad IDX magic number 0x{magic:08x} (expected "
                         f"0x{_IDX_MAGIC[ndim]:08x} for a {ndim}-d uint8 array); "
                         "the file is corrupt or not an IDX file")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX payload has {len(data) - header} bytes, the header "
                         f"announces {shape} = {expected}; the file is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def candidate_dirs(root) -> list[Path]:
    """Every folder looked at, in order."""
    dirs = [Path(root) / "fashion-mnist", Path(root) / "FashionMNIST" / "raw"]
    return dirs + [cache_dir("fashion_mnist") / "FashionMNIST" / "raw", SYSTEM_DIR]


def located(root) -> Path | None:
    """The first folder of :func:`candidate_dirs` holding all four IDX files, or ``None``."""
    stems = [f"{p}-{kind}" for p in _PREFIX.values()
             for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    return next((d for d in candidate_dirs(root) if all(_find(d, s) for s in stems)), None)


def ensure_downloaded(root) -> Path:
    """The folder holding Fashion-MNIST: one of :func:`candidate_dirs`, else a
    torchvision download into the project's cache (never into ``root``)."""
    found = located(root)
    if found is not None:
        return found
    import torchvision

    torchvision.datasets.FashionMNIST(str(cache_dir("fashion_mnist")), train=True, download=True)
    torchvision.datasets.FashionMNIST(str(cache_dir("fashion_mnist")), train=False, download=True)
    return located(root)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=4)
def _load_pair(images_key: tuple, labels_key: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Parse an image/label IDX pair once per process (keyed by path, mtime and
    size); every later load shares the same tensors."""
    x, y = read_idx(images_key[0], 3), read_idx(labels_key[0], 1)
    if len(x) != len(y):
        raise ValueError(f"{images_key[0]}: {len(x)} images but {len(y)} labels")
    if y.size and y.max() >= INFO.num_classes:
        raise ValueError(f"{labels_key[0]}: label {int(y.max())} outside 0..9")
    return torch.from_numpy(x[:, None].copy()), torch.from_numpy(y.astype(np.int64))


@register(INFO)
def build_fashion_mnist(split="train", root=".", **options) -> ImageDataset:
    """Fashion-MNIST ``train`` (60,000) or ``test`` (10,000), 1×28×28 uint8, 10 classes."""
    take_options("fashion_mnist", options, {})
    check_split(split)
    prefix = _PREFIX[split]
    looked = []
    for directory in candidate_dirs(root):
        images = _find(directory, f"{prefix}-images-idx3-ubyte")
        labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
        looked.append(str(directory))
        if images is None or labels is None:
            continue
        x, y = _load_pair(_file_key(images), _file_key(labels))
        return ImageDataset(x, y, INFO.num_classes, INFO)
    raise DatasetNotFoundError(
        "fashion_mnist", candidate_dirs(root)[0], HOW_TO_GET,
        detail=f"no {prefix}-images-idx3-ubyte[.gz] + {prefix}-labels-idx1-ubyte[.gz] in any "
               f"of: {', '.join(looked)}")


def main(argv: list[str]) -> int:
    """``make data``'s step, given ``[DATA_ROOT]``: say where Fashion-MNIST is, downloading it into the
    project's cache when no folder has it; 1 and the ways to get it on failure."""
    root = Path(argv[0]).expanduser() if argv and argv[0] else Path.home() / "data"
    try:
        found = ensure_downloaded(root)
    except Exception as error:  # no network, a bad mirror: say how to get it instead
        print(f"error: Fashion-MNIST is missing and the download failed ({error}); "
              f"get it by {HOW_TO_GET}", file=sys.stderr)
        return 1
    print(f"Fashion-MNIST: {found}")
    return 0

