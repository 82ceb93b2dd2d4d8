"""A miniature data root: every dataset of the paper preset in its exact
published on-disk format, small but class-complete (design.md §5; the paper's
data, Hendrycks et al., 2019, §3 and §4)::

    python -m lib.data.miniature DIR [--per-class 3] [--test-per-class 2] [--seed 0]
                                     [--ood-images 10] [--imagenet-format npz|pickle]
                                     [--only NAME ...]

writes, in the layouts the loaders of :mod:`lib.data` read (nothing is
downloaded):

============== ===============================================================
cifar10        ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``
cifar100       ``cifar-100-python/{train,test,meta}`` (fine and coarse labels)
imagenet32     ``Imagenet32_{train,val}_npz/*.npz`` (or the pickled
               ``Imagenet32_{train,val}/``), labels 1..1000, all 1,000 classes
imagenet64     likewise, the train batches split into ``_train_part1``/``_part2``
tiny_imagenet  ``tiny-imagenet-200/`` with ``wnids.txt``, ``words.txt``,
               ``train/<wnid>/images``, the unsorted ``val/`` with
               ``val_annotations.txt``, and ``test/images``; all 200 classes
svhn           ``svhn/test_32x32.mat`` (digit 0 stored as 10)
textures       ``dtd/images/<class>/*.jpg`` (the 47 DTD classes)
places365      ``places365/test_subset/...``
lsun           ``LSUN/test`` (ODIN crops) and ``LSUN_resize/test``
lsun_raw       ``lsun_test/<k>/<e>/<y>/.../<key>.webp`` (the raw LSUN test set,
               exported to images)
isun           ``iSUN/iSUN_patches``
============== ===============================================================

Every split holds ``per_class`` (train) or ``test_per_class`` (test) images of
each class, shuffled with ``seed`` as the real files are. An image carries the
label its loader must return (:func:`encode_images`, :func:`decode_labels`),
so a test can check labels and their order; OOD images carry their index in
the order written. The two Downsampled-ImageNet formats are alternatives: the
loader prefers npz, so a root holding both would never read the pickles (npz
files are written compressed; ``np.load`` reads either kind). The held-out
ImageNet classes of the Tiny ImageNet evaluation (``imagenet_heldout``) need no
files of their own: they are read from ``imagenet64``.

The root gets a ``MINIATURE.txt`` marker. Writing into a folder that already
holds one of these datasets is refused unless the marker is there (then the
miniature's folders are replaced), so real data is never overwritten.

The same writers, with explicit labels, are the fixtures of
``tests/data/test_real_datasets.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.data.cifar import CIFAR10_CLASSES, CIFAR100_CLASSES
from lib.data.class_exclusion import (
    CLASS_LIST_DIR,
    NUM_IMAGENET_CLASSES,
    imagenet_class_names,
    imagenet_wnids,
)
from lib.validation import check_choice, check_range, check_type

MARKER = "MINIATURE.txt"
IMAGENET_FORMATS = ("npz", "pickle")
NUM_IMAGENET_TRAIN_BATCHES = 10

# -- images that carry a label -------------------------------------------------------
_STEP = 16  # each channel codes one base-16 digit as 8 + 16·digit: robust to JPEG and resizing
MAX_CODE = _STEP ** 3


def encode_images(values, size: int, seed=0) -> np.ndarray:
    """uint8 N×3×size×size images carrying ``values`` (taken modulo 4096);
    ``seed`` is an int or a tuple of ints (a stream of the write's seed).

    Image i is flat, channel c at ``8 + 16·d_c`` where ``d_c`` is base-16
    digit c of ``values[i]``, with a seeded square of side size/4 in the
    inverted colour (so images of one class differ). :func:`decode_labels`
    reads the values back, also after JPEG coding or resizing.
    """
    values = np.asarray(values, dtype=np.int64).reshape(-1) % MAX_CODE
    digits = np.stack([(values // _STEP ** c) % _STEP for c in range(3)], axis=1)
    base = (8 + _STEP * digits).astype(np.uint8)  # N×3
    images = np.broadcast_to(base[:, :, None, None], (len(values), 3, size, size)).copy()
    side = max(1, size // 4)
    corners = np.random.default_rng(seed).integers(0, size - side + 1, size=(len(values), 2))
    for image, colour, (top, left) in zip(images, base, corners):
        image[:, top:top + side, left:left + side] = 255 - colour[:, None, None]
    return images


def decode_labels(images) -> np.ndarray:
    """The values carried by uint8 N×3×H×W images (see :func:`encode_images`)."""
    images = np.asarray(images)
    median = np.median(images.reshape(len(images), 3, -1), axis=2)
    digits = np.clip(np.rint((median - 8) / _STEP), 0, _STEP - 1).astype(np.int64)
    return digits[:, 0] + _STEP * digits[:, 1] + _STEP ** 2 * digits[:, 2]


def class_complete_labels(num_classes: int, per_class: int, seed=0) -> np.ndarray:
    """Each of ``0..num_classes-1`` exactly ``per_class`` times, in a seeded shuffle."""
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
    return np.random.default_rng(seed).permutation(labels)


def _pickle(path: Path, obj) -> None:
    """A protocol-2 pickle, as the Python-2-era originals."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _save_image(array_chw: np.ndarray, path: Path, mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(array_chw.transpose(1, 2, 0)))
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, quality=95)


# -- CIFAR ---------------------------------------------------------------------------
# CIFAR-100 superclasses (coarse labels, alphabetical as in the official meta file)
# and their five fine classes each (Krizhevsky, 2009).
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
_COARSE_OF = {fine: c for c, fines in enumerate(CIFAR100_SUPERCLASSES.values()) for fine in fines}
assert sorted(_COARSE_OF) == sorted(CIFAR100_CLASSES)


def _cifar_batch(labels, names, key: str, batch_label: str, seed) -> dict:
    labels = np.asarray(labels, dtype=np.int64)
    return {"batch_label": batch_label,
            "data": encode_images(labels, 32, seed).reshape(len(labels), -1),
            key: labels.tolist(),
            "filenames": [f"{names[y]}_s_{i:06d}.png" for i, y in enumerate(labels)]}


def write_cifar10(root, train_labels, test_labels, seed: int = 0, skip=()) -> Path:
    """``root/cifar-10-batches-py``: ``train_labels`` (0..9) spread over
    ``data_batch_1..5``, ``test_labels`` in ``test_batch``, and ``batches.meta``.
    Files named in ``skip`` are left out (a partial download)."""
    folder = Path(root) / "cifar-10-batches-py"
    parts = np.array_split(np.asarray(train_labels, dtype=np.int64), 5)
    batches = [(f"data_batch_{b}", part, f"training batch {b} of 5")
               for b, part in enumerate(parts, 1)]
    batches.append(("test_batch", np.asarray(test_labels, dtype=np.int64), "testing batch 1 of 1"))
    for b, (name, labels, batch_label) in enumerate(batches):
        if name not in skip:
            _pickle(folder / name, _cifar_batch(labels, CIFAR10_CLASSES, "labels", batch_label,
                                                (seed, b)))
    _pickle(folder / "batches.meta", {"num_cases_per_batch": len(parts[0]),
                                      "label_names": list(CIFAR10_CLASSES), "num_vis": 3072})
    return folder


def write_cifar100(root, train_labels, test_labels, seed: int = 0) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` with fine labels (0..99) and
    their superclasses as coarse labels."""
    folder = Path(root) / "cifar-100-python"
    for b, (name, labels) in enumerate((("train", train_labels), ("test", test_labels))):
        batch = _cifar_batch(labels, CIFAR100_CLASSES, "fine_labels",
                             f"{'training' if name == 'train' else 'testing'} batch 1 of 1",
                             (seed, b))
        batch["coarse_labels"] = [_COARSE_OF[CIFAR100_CLASSES[y]] for y in batch["fine_labels"]]
        _pickle(folder / name, batch)
    _pickle(folder / "meta", {"fine_label_names": list(CIFAR100_CLASSES),
                              "coarse_label_names": list(CIFAR100_SUPERCLASSES)})
    return folder


# -- Downsampled ImageNet ------------------------------------------------------------
def imagenet_train_folder(size: int, batch: int, fmt: str) -> str:
    """The official folder of train batch ``batch`` (1..10): the 64×64 set is
    distributed as ``_train_part1`` (batches 1-5) and ``_train_part2``."""
    part = "" if size != 64 else ("_part1" if batch <= 5 else "_part2")
    return f"Imagenet{size}_train{part}" + ("_npz" if fmt == "npz" else "")


def write_imagenet(root, size: int, train_labels, val_labels, fmt: str = "npz",
                   seed: int = 0) -> list[Path]:
    """Official Downsampled-ImageNet files: ``train_labels`` (as stored, 1..1000)
    over 10 train batches and ``val_labels`` in ``val_data``, each a dict of
    ``data`` (N×3·S·S uint8, channel-planar) and ``labels`` (plus the train
    ``mean``); ``fmt`` is ``'npz'`` or ``'pickle'``. Image pixels carry
    ``label - 1``, the 0-based label the loader returns."""
    check_choice("fmt", fmt, IMAGENET_FORMATS)
    root = Path(root)
    written = []

    def write(path: Path, labels: np.ndarray, batch_seed, train: bool) -> None:
        data = encode_images(labels - 1, size, batch_seed).reshape(len(labels), -1)
        batch = {"data": data, "labels": labels.tolist()}
        if train:
            batch["mean"] = data.mean(axis=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "npz":
            path = path.with_name(path.name + ".npz")
            np.savez_compressed(path, **{k: np.asarray(v) for k, v in batch.items()})
        else:
            _pickle(path, batch)
        written.append(path)

    parts = np.array_split(np.asarray(train_labels, dtype=np.int64), NUM_IMAGENET_TRAIN_BATCHES)
    for b, labels in enumerate(parts, 1):
        write(root / imagenet_train_folder(size, b, fmt) / f"train_data_batch_{b}", labels,
              (seed, b), train=True)
    val_folder = f"Imagenet{size}_val" + ("_npz" if fmt == "npz" else "")
    write(root / val_folder / "val_data", np.asarray(val_labels, dtype=np.int64), (seed, 0),
          train=False)
    return written


# -- Tiny ImageNet -------------------------------------------------------------------
def tiny_imagenet_wnids() -> list[str]:
    """The 200 Tiny ImageNet wnids in the order of the official ``wnids.txt``."""
    lines = (CLASS_LIST_DIR / "tiny_imagenet_wnids.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def write_tiny_imagenet(root, wnids: Sequence[str], per_class: int, val_labels,
                        seed: int = 0, test_images: int = 2) -> Path:
    """``root/tiny-imagenet-200`` as the official zip: ``wnids.txt`` (label
    order), ``words.txt`` (``wnid<TAB>names``, with entries beyond the classes),
    ``train/<wnid>/{images/<wnid>_<k>.JPEG, <wnid>_boxes.txt}`` with
    ``per_class`` images each (the first image of class 0 is grayscale, as some
    real ones), ``val/images/val_<i>.JPEG`` whose classes (``val_labels``,
    indices into ``wnids``) are listed in ``val/val_annotations.txt``, and an
    unlabelled ``test/images``. Pixels carry the 0-based label."""
    base = Path(root) / "tiny-imagenet-200"
    base.mkdir(parents=True, exist_ok=True)
    wnids = list(wnids)
    names = dict(zip(imagenet_wnids(), imagenet_class_names()))
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    words = [f"{w}\t{names.get(w, w).replace('_', ' ')}" for w in wnids]
    (base / "words.txt").write_text("\n".join(words + ["n00001740\tentity"]) + "\n")

    for c, wnid in enumerate(wnids):
        folder = base / "train" / wnid
        images = encode_images(np.full(per_class, c), 64, (seed, 1, c))
        boxes = []
        for k, image in enumerate(images):
            name = f"{wnid}_{k}.JPEG"
            _save_image(image, folder / "images" / name, "L" if (c, k) == (0, 0) else "RGB")
            boxes.append(f"{name}\t8\t8\t55\t55")
        (folder / f"{wnid}_boxes.txt").write_text("\n".join(boxes) + "\n")

    val_labels = np.asarray(val_labels, dtype=np.int64)
    rows = []
    for i, (label, image) in enumerate(zip(val_labels, encode_images(val_labels, 64, (seed, 2)))):
        _save_image(image, base / "val" / "images" / f"val_{i}.JPEG")
        rows.append(f"val_{i}.JPEG\t{wnids[label]}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    for i, image in enumerate(encode_images(np.arange(test_images), 64, (seed, 3))):
        _save_image(image, base / "test" / "images" / f"test_{i}.JPEG")
    (base / "test" / "images").mkdir(parents=True, exist_ok=True)
    return base


# -- OOD sets ------------------------------------------------------------------------
DTD_CLASSES = (
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
    "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly",
    "gauzy", "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined",
    "marbled", "matted", "meshed", "paisley", "perforated", "pitted", "pleated",
    "polka-dotted", "porous", "potholed", "scaly", "smeared", "spiralled", "sprinkled",
    "stained", "stratified", "striped", "studded", "swirly", "veined", "waffled", "woven",
    "wrinkled", "zigzagged",
)


def write_svhn(root, labels, split: str = "test", seed: int = 0) -> Path:
    """``root/svhn/<split>_32x32.mat``: ``X`` 32×32×3×N uint8 and ``y`` N×1 with
    the ``labels`` as stored (1..10, 10 meaning digit 0). Pixels carry the digit."""
    from scipy.io import savemat

    labels = np.asarray(labels, dtype=np.int64)
    path = Path(root) / "svhn" / f"{split}_32x32.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    x = encode_images(labels % 10, 32, seed).transpose(2, 3, 1, 0)  # NCHW -> HWCN
    savemat(path, {"X": x, "y": labels.reshape(-1, 1).astype(np.uint8)})
    return path


def write_image_folder(folder, paths: Sequence[str], size: tuple[int, int] = (48, 40),
                       seed: int = 0) -> Path:
    """One image of ``size`` (W, H) at each relative path of ``paths`` under
    ``folder`` (the format follows the suffix); image i carries the value i."""
    folder = Path(folder)
    width, height = size
    square = encode_images(np.arange(len(paths)), max(width, height), seed)
    for path, image in zip(paths, square):
        _save_image(image[:, :height, :width], folder / path)
    return folder


# -- the whole root ------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """What :func:`write_miniature` wrote for one dataset."""

    name: str
    paths: tuple[Path, ...]  # its top-level folders (or files) under the root
    counts: dict  # split -> number of images
    num_classes: int

    def nbytes(self) -> int:
        return sum(_size(p) for p in self.paths)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass(frozen=True)
class _Plan:
    targets: Callable[[str], list[str]]  # imagenet format -> top-level paths
    write: Callable  # (root, per_class, test_per_class, ood_images, seed, fmt) -> (counts, classes)


def _cifar(writer, num_classes):
    def write(root, per_class, test_per_class, ood_images, seed, fmt):
        train = class_complete_labels(num_classes, per_class, (seed, 0))
        test = class_complete_labels(num_classes, test_per_class, (seed, 1))
        writer(root, train, test, seed)
        return {"train": len(train), "test": len(test)}, num_classes
    return write


def _imagenet(size):
    def write(root, per_class, test_per_class, ood_images, seed, fmt):
        train = class_complete_labels(NUM_IMAGENET_CLASSES, per_class, (seed, 0)) + 1
        val = class_complete_labels(NUM_IMAGENET_CLASSES, test_per_class, (seed, 1)) + 1
        write_imagenet(root, size, train, val, fmt, seed)
        return {"train": len(train), "test": len(val)}, NUM_IMAGENET_CLASSES
    return write


def _imagenet_targets(size):
    def targets(fmt):
        suffix = "_npz" if fmt == "npz" else ""
        folders = {imagenet_train_folder(size, b, fmt) for b in (1, 10)}
        return sorted(folders) + [f"Imagenet{size}_val{suffix}"]
    return targets


def _tiny(root, per_class, test_per_class, ood_images, seed, fmt):
    wnids = tiny_imagenet_wnids()
    val = class_complete_labels(len(wnids), test_per_class, (seed, 1))
    write_tiny_imagenet(root, wnids, per_class, val, seed)
    return {"train": per_class * len(wnids), "test": len(val)}, len(wnids)


def _svhn(root, per_class, test_per_class, ood_images, seed, fmt):
    digits = class_complete_labels(10, test_per_class, (seed, 1))
    write_svhn(root, np.where(digits == 0, 10, digits), "test", seed)
    return {"test": len(digits)}, 10


def _folders(specs):
    """specs: (folder, image size (W, H), path of image i) per written folder."""
    def write(root, per_class, test_per_class, ood_images, seed, fmt):
        counts = []
        for folder, size, name in specs:
            n = len(DTD_CLASSES) if folder == "dtd/images" else ood_images
            write_image_folder(Path(root) / folder, [name(i) for i in range(n)], size, seed)
            counts.append(n)
        return {"test": counts[0]}, 1
    return write


def _lsun_key(i: int) -> str:
    """A 40-hex-digit key, like the LSUN database's."""
    return hashlib.sha1(f"miniature {i}".encode()).hexdigest()


_PLANS = {
    "cifar10": _Plan(lambda fmt: ["cifar-10-batches-py"], _cifar(write_cifar10, 10)),
    "cifar100": _Plan(lambda fmt: ["cifar-100-python"], _cifar(write_cifar100, 100)),
    "imagenet32": _Plan(_imagenet_targets(32), _imagenet(32)),
    "imagenet64": _Plan(_imagenet_targets(64), _imagenet(64)),
    "tiny_imagenet": _Plan(lambda fmt: ["tiny-imagenet-200"], _tiny),
    "svhn": _Plan(lambda fmt: ["svhn/test_32x32.mat"], _svhn),
    # DTD: 300-640 px photos of 47 classes; one per class, non-square (resize + crop)
    "textures": _Plan(lambda fmt: ["dtd"], _folders([
        ("dtd/images", (48, 40), lambda i: f"{DTD_CLASSES[i]}/{DTD_CLASSES[i]}_0001.jpg")])),
    "places365": _Plan(lambda fmt: ["places365"], _folders([
        ("places365/test_subset", (64, 64),
         lambda i: f"{'abc'[i % 3]}/Places365_test_{i + 1:08d}.jpg")])),
    # ODIN's LSUN (crop, 36×36) and LSUN_resize (32×32); iSUN 32×32 patches
    "lsun": _Plan(lambda fmt: ["LSUN", "LSUN_resize"], _folders([
        ("LSUN/test", (36, 36), lambda i: f"{i}.jpg"),
        ("LSUN_resize/test", (32, 32), lambda i: f"{i}.jpg")])),
    # the raw LSUN test set as exported by fyu/lsun's `data.py export`: nested
    # folders named by the key's first six characters, <key>.webp, shorter side 256
    "lsun_raw": _Plan(lambda fmt: ["lsun_test"], _folders([
        ("lsun_test", (64, 48), lambda i: "/".join(_lsun_key(i)[:6]) + f"/{_lsun_key(i)}.webp")])),
    "isun": _Plan(lambda fmt: ["iSUN"], _folders([
        ("iSUN/iSUN_patches", (32, 32), lambda i: f"COCO_train2014_{i:012d}.jpeg")])),
}
MINIATURE_DATASETS = tuple(_PLANS)


def write_miniature(root, per_class: int = 3, test_per_class: int = 2, seed: int = 0,
                    ood_images: int = 10, imagenet_format: str = "npz",
                    datasets: Sequence[str] | None = None) -> list[Written]:
    """Write the miniature of ``datasets`` (default: all of
    :data:`MINIATURE_DATASETS`) into ``root``; returns what was written.

    ``per_class``/``test_per_class``: images of each class in the train/test
    split; ``ood_images``: images of each OOD folder (Textures: one per DTD
    class); ``imagenet_format``: ``'npz'`` or ``'pickle'``. Raises
    ``FileExistsError`` naming every existing dataset folder when ``root``
    holds one and is not a miniature root.
    """
    for name, value, low in (("per_class", per_class, 1), ("test_per_class", test_per_class, 1),
                             ("ood_images", ood_images, 1), ("seed", seed, 0)):
        check_type(name, value, int)
        check_range(name, value, low)
    check_choice("imagenet_format", imagenet_format, IMAGENET_FORMATS)
    names = list(MINIATURE_DATASETS if datasets is None else datasets)
    if not names:
        raise ValueError(f"datasets=[] is empty; choose from: {', '.join(MINIATURE_DATASETS)}")
    for name in names:
        check_choice("datasets", name, MINIATURE_DATASETS)

    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"root={str(root)!r} is a file, not a directory")
    targets = {name: [root / t for t in _PLANS[name].targets(imagenet_format)] for name in names}
    existing = [p for paths in targets.values() for p in paths if p.exists()]
    if existing and not (root / MARKER).is_file():
        raise FileExistsError(
            f"root={str(root)!r} already holds {', '.join(str(p) for p in existing)} and is not a "
            f"miniature root (no {MARKER}); the miniature never overwrites real data: "
            "choose an empty directory")
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(
        "A miniature data root written by `python -m lib.data.miniature` (synthetic images in "
        "the real datasets' on-disk formats, for dry runs and tests). Numbers computed from it "
        f"are meaningless.\nper_class={per_class} test_per_class={test_per_class} seed={seed} "
        f"ood_images={ood_images} imagenet_format={imagenet_format}\n")

    written = []
    for name in names:
        for path in targets[name]:  # replace an earlier miniature (stale files, caches)
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        counts, classes = _PLANS[name].write(root, per_class, test_per_class, ood_images, seed,
                                             imagenet_format)
        written.append(Written(name, tuple(targets[name]), counts, classes))
    return written


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / 2 ** 20:.1f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: write the miniature root, then print what it holds."""
    parser = argparse.ArgumentParser(
        prog="python -m lib.data.miniature",
        description="Write every dataset of the paper preset, small but class-complete, in "
                    "its published on-disk format (nothing is downloaded).")
    parser.add_argument("root", metavar="DIR", help="the data root to write (new or a miniature)")
    parser.add_argument("--per-class", type=int, default=3,
                        help="train images per class (3: the dry run's imbalance needs 3)")
    parser.add_argument("--test-per-class", type=int, default=2, help="test images per class (2)")
    parser.add_argument("--ood-images", type=int, default=10, help="images per OOD folder (10)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and pattern seed (0)")
    parser.add_argument("--imagenet-format", default="npz", choices=IMAGENET_FORMATS,
                        help="Downsampled ImageNet files: npz (default) or pickled batches")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=MINIATURE_DATASETS,
                        help="write only these datasets")
    args = parser.parse_args(argv)
    try:
        written = write_miniature(args.root, args.per_class, args.test_per_class, args.seed,
                                  args.ood_images, args.imagenet_format, args.only)
    except (ValueError, TypeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    root = Path(args.root).expanduser()
    print(f"miniature data root {root} (seed {args.seed}):")
    for w in written:
        counts = ", ".join(f"{split} {n}" for split, n in w.counts.items())
        where = ", ".join(str(p.relative_to(root)) for p in w.paths)
        classes = f"{w.num_classes} class" + ("es" if w.num_classes > 1 else "")
        print(f"  {w.name:<14}{classes:>12}  {counts:<22}{_megabytes(w.nbytes()):>9}  {where}")
    print(f"total {_megabytes(_size(root))} in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
