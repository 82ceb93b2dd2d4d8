"""Writers of tiny dataset files in each real dataset's exact on-disk format.

Images encode their index so tests can check order and layout: image k of a
batch has every pixel of channel c equal to ``(k + 10 * c) % 256`` unless a
writer says otherwise.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def planar_images(n: int, size: int, offset: int = 0) -> np.ndarray:
    """uint8 N×3×size×size; image k, channel c is constant ``(offset + k + 10c) % 256``."""
    k = np.arange(n)[:, None, None, None] + offset
    c = np.arange(3)[None, :, None, None]
    return np.broadcast_to((k + 10 * c) % 256, (n, 3, size, size)).astype(np.uint8)


def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


# -- CIFAR ---------------------------------------------------------------------------
def write_cifar10(root, per_batch: int = 4, skip=()) -> Path:
    """``root/cifar-10-batches-py`` with 5 train batches, a test batch and batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        if name in skip:
            continue
        images = planar_images(per_batch, 32, offset=b * per_batch)
        _pickle(folder / name, {
            "batch_label": f"batch {b}", "data": images.reshape(per_batch, -1),
            "labels": [(b * per_batch + k) % 10 for k in range(per_batch)],
            "filenames": [f"img_{b}_{k}.png" for k in range(per_batch)],
        })
    _pickle(folder / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat",
                                                      "deer", "dog", "frog", "horse", "ship",
                                                      "truck"], "num_vis": 3072})
    return folder


def write_cifar100(root, n_train: int = 6, n_test: int = 3) -> Path:
    """``root/cifar-100-python`` with train, test and meta."""
    folder = Path(root) / "cifar-100-python"
    for name, n in (("train", n_train), ("test", n_test)):
        _pickle(folder / name, {
            "data": planar_images(n, 32).reshape(n, -1),
            "fine_labels": [(7 * k) % 100 for k in range(n)],
            "coarse_labels": [k % 20 for k in range(n)],
            "filenames": [f"{name}_{k}.png" for k in range(n)],
        })
    _pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)],
                              "coarse_label_names": [f"s{i}" for i in range(20)]})
    return folder


# -- Downsampled ImageNet ------------------------------------------------------------
def imagenet_batch(n: int, size: int, labels, offset: int = 0) -> dict:
    """One official batch dict: ``data`` N×3·S·S (channel-planar), ``labels`` 1..1000."""
    return {"data": planar_images(n, size, offset).reshape(n, -1), "labels": list(labels),
            "mean": np.zeros(3 * size * size)}


def write_imagenet(root, size: int = 32, fmt: str = "pickle", batches: int = 10,
                   per_batch: int = 3, n_val: int = 4, label_of=None) -> Path:
    """Official Downsampled-ImageNet folders. ``fmt`` is ``'pickle'`` or ``'npz'``.

    Train image i (counted across batches) gets label ``label_of(i)`` (1-based;
    default: ``1 + (i % 1000)``) and pixel values ``planar_images`` offset by i.
    """
    root = Path(root)
    label_of = label_of or (lambda i: 1 + i % 1000)
    suffix = "_npz" if fmt == "npz" else ""

    def write(path: Path, labels, offset: int = 0) -> None:
        batch = imagenet_batch(len(labels), size, labels, offset)
        if fmt == "npz":
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path.with_name(path.name + ".npz"), data=batch["data"],
                     labels=np.asarray(labels), mean=batch["mean"])
        else:
            _pickle(path, batch)

    for b in range(1, batches + 1):
        labels = [label_of((b - 1) * per_batch + k) for k in range(per_batch)]
        write(root / f"Imagenet{size}_train{suffix}" / f"train_data_batch_{b}", labels,
              offset=(b - 1) * per_batch)
    write(root / f"Imagenet{size}_val{suffix}" / "val_data", [1000 - k for k in range(n_val)])
    return root


# -- Tiny ImageNet -------------------------------------------------------------------
TINY_WNIDS = ("n01443537", "n01629819", "n01641577")


def _jpeg(path: Path, value: int, mode: str = "RGB", size: int = 64) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 128)
    Image.new(mode, (size, size), color).save(path, quality=95)


def write_tiny_imagenet(root, per_class: int = 2, val_per_class: int = 2) -> Path:
    """``root/tiny-imagenet-200`` with 3 classes; val images are listed out of
    order in val_annotations.txt and one train image is grayscale."""
    base = Path(root) / "tiny-imagenet-200"
    base.mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(TINY_WNIDS) + "\n")
    (base / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\n"
                                    "n01629819\tEuropean fire salamander\n"
                                    "n01641577\tbullfrog, Rana catesbeiana\n"
                                    "n99999999\tunused entry\n")
    for c, wnid in enumerate(TINY_WNIDS):
        (base / "train" / wnid / f"{wnid}_boxes.txt").parent.mkdir(parents=True, exist_ok=True)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for k in range(per_class):
            mode = "L" if (c, k) == (0, 0) else "RGB"
            _jpeg(base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", 40 * c + 10 * k, mode)
    rows, i = [], 0
    for k in range(val_per_class):
        for c, wnid in reversed(list(enumerate(TINY_WNIDS))):
            name = f"val_{i}.JPEG"
            _jpeg(base / "val" / "images" / name, 40 * c + 10 * k)
            rows.append(f"{name}\t{wnid}\t0\t0\t63\t63")
            i += 1
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")
    (base / "test" / "images").mkdir(parents=True, exist_ok=True)
    return base


# -- OOD sets ------------------------------------------------------------------------
def write_svhn(root, split: str = "test", n: int = 5) -> Path:
    """``root/svhn/<split>_32x32.mat``: X 32×32×3×N uint8, y N×1 in 1..10."""
    from scipy.io import savemat

    path = Path(root) / "svhn" / f"{split}_32x32.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    x = planar_images(n, 32).transpose(2, 3, 1, 0)  # NCHW -> HWCN
    y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 10 means digit 0
    savemat(path, {"X": x, "y": y})
    return path


def write_image_folder(folder, n: int = 5, size: tuple[int, int] = (48, 40),
                       subfolders: int = 1, ext: str = ".jpg") -> Path:
    """``n`` images of ``size`` (W, H) spread over ``subfolders`` class folders
    (``subfolders=0``: directly in ``folder``). Image i has red value 20·i."""
    from PIL import Image

    folder = Path(folder)
    for i in range(n):
        sub = folder / f"class{i % subfolders}" if subfolders else folder
        sub.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (20 * i % 256, 50, 200)).save(sub / f"img{i:03d}{ext}")
    return folder
