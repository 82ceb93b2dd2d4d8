"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) in torchvision's on-disk layout.

``root/cifar-10-batches-py/{data_batch_1..5, test_batch}`` and
``root/cifar-100-python/{train, test}``, as written by
``torchvision.datasets.CIFAR10/CIFAR100(root, download=True)``.

Security: these files are Python pickles, and unpickling can execute arbitrary
code; they are read by :func:`lib.data.safe_pickle.read_data_pickle`, which
builds only what they hold (dicts, lists, strings, bytes, numbers, numpy
arrays) and refuses a tampered file, naming it, before anything of it runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.errors import DatasetNotFoundError
from lib.data.registry import register
from lib.data.safe_pickle import read_data_pickle

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
_SOURCE = ("Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009; "
           "https://www.cs.toronto.edu/~kriz/cifar.html")
_LICENCE = "no explicit licence; research use, cite Krizhevsky (2009)"

CIFAR10_INFO = DatasetInfo(
    name="cifar10", num_classes=10, image_size=32, channels=3, source=_SOURCE, licence=_LICENCE,
    how_to_get="torchvision.datasets.CIFAR10(root, download=True) (or extract "
               "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into root)",
    class_names=CIFAR10_CLASSES)
CIFAR100_INFO = DatasetInfo(
    name="cifar100", num_classes=100, image_size=32, channels=3, source=_SOURCE, licence=_LICENCE,
    how_to_get="torchvision.datasets.CIFAR100(root, download=True) (or extract "
               "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz into root)",
    class_names=CIFAR100_CLASSES)

# name -> (folder, {split: files}, label key)
_LAYOUT = {
    "cifar10": ("cifar-10-batches-py",
                {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                "labels"),
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}, "fine_labels"),
}


def _files(info: DatasetInfo, split: str, root: Path) -> list[Path]:
    """The batch files of ``split``; :class:`DatasetNotFoundError` if any is missing."""
    folder, files, _ = _LAYOUT[info.name]
    directory = Path(root) / folder
    if not directory.is_dir():
        raise DatasetNotFoundError(info.name, directory, info.how_to_get)
    missing = [name for name in files[split] if not (directory / name).is_file()]
    if missing:
        raise DatasetNotFoundError(info.name, directory, info.how_to_get,
                                   detail="incomplete download, missing: " + ", ".join(missing))
    return [directory / name for name in files[split]]


def _load(info: DatasetInfo, split: str, root: Path) -> ImageDataset:
    label_key = _LAYOUT[info.name][2]
    images, labels = [], []
    for path in _files(info, split, root):
        batch = read_data_pickle(path, info.how_to_get)
        data = np.asarray(batch["data"], dtype=np.uint8)
        images.append(data.reshape(len(data), 3, 32, 32))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    images = images[0] if len(images) == 1 else np.concatenate(images)
    return ImageDataset(images, np.concatenate(labels), info.num_classes, info)


@register(CIFAR10_INFO, check=lambda split, root: _files(CIFAR10_INFO, split, root))
def cifar10(split: str, root: Path) -> ImageDataset:
    """CIFAR-10: 50,000 train / 10,000 test images, 32×32 RGB, 10 classes."""
    return _load(CIFAR10_INFO, split, root)


@register(CIFAR100_INFO, check=lambda split, root: _files(CIFAR100_INFO, split, root))
def cifar100(split: str, root: Path) -> ImageDataset:
    """CIFAR-100 (fine labels): 50,000 train / 10,000 test images, 32×32 RGB, 100 classes."""
    return _load(CIFAR100_INFO, split, root)
