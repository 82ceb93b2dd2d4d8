"""Real datasets read from tiny files in their exact on-disk formats, written
by the writers of :mod:`lib.data.miniature` with hand-picked labels (the whole
miniature root is tested in test_miniature.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import lib.data.miniature as fx
from lib.data import DatasetNotFoundError, dataset_info, get_dataset
from lib.data import tiny_imagenet
from lib.data.safe_pickle import read_data_pickle
from lib.data.class_exclusion import load_class_list
from lib.data.miniature import decode_labels

REAL = ["cifar10", "cifar100", "imagenet32", "imagenet64", "tiny_imagenet",
        "svhn", "textures", "places365", "lsun", "isun"]


def check_tensors(ds, n, size, num_classes):
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert tuple(ds.images.shape) == (n, 3, size, size)
    assert ds.num_classes == num_classes and len(ds) == n
    assert int(ds.labels.min()) >= 0 and int(ds.labels.max()) < num_classes


def carried(ds) -> list[int]:
    """The values the images carry (the writers encode the expected label)."""
    return decode_labels(ds.images.numpy()).tolist()


# -- registry facts ------------------------------------------------------------------
@pytest.mark.parametrize("name", REAL)
def test_info_is_complete(name):
    info = dataset_info(name)
    assert info.name == name and info.num_classes >= 1 and info.channels == 3
    assert info.source and info.licence and info.how_to_get


@pytest.mark.parametrize("name", REAL)
def test_missing_dataset_names_dataset_path_and_how_to_get(name, tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset(name, "test", root=tmp_path)
    message = str(err.value)
    assert repr(name) in message and str(tmp_path) in message
    assert dataset_info(name).how_to_get in message


@pytest.mark.parametrize("name", REAL)
def test_unknown_option_is_rejected(name, tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        get_dataset(name, "test", root=tmp_path, bogus=1)


# -- CIFAR ---------------------------------------------------------------------------
def write_cifar10(root, **kwargs):
    return fx.write_cifar10(root, [k % 10 for k in range(20)], [(20 + k) % 10 for k in range(4)],
                            **kwargs)


def test_cifar10_layout_shapes_and_order(tmp_path):
    write_cifar10(tmp_path)
    train = get_dataset("cifar10", "train", root=tmp_path)
    check_tensors(train, 20, 32, 10)
    assert train.labels.tolist() == [k % 10 for k in range(20)]
    assert carried(train) == train.labels.tolist()  # images stay with their labels
    assert train.class_names[0] == "airplane"
    test = get_dataset("cifar10", "test", root=tmp_path)
    check_tensors(test, 4, 32, 10)
    assert test.labels.tolist() == [(20 + k) % 10 for k in range(4)] == carried(test)


def test_cifar10_partial_download_names_missing_files(tmp_path):
    write_cifar10(tmp_path, skip=("data_batch_3", "data_batch_5"))
    with pytest.raises(DatasetNotFoundError, match="data_batch_3, data_batch_5"):
        get_dataset("cifar10", "train", root=tmp_path)
    assert len(get_dataset("cifar10", "test", root=tmp_path)) == 4  # test batch is there


def test_cifar100_fine_labels(tmp_path):
    folder = fx.write_cifar100(tmp_path, [(7 * k) % 100 for k in range(6)], [99, 0, 50])
    train = get_dataset("cifar100", "train", root=tmp_path)
    check_tensors(train, 6, 32, 100)
    assert train.labels.tolist() == [(7 * k) % 100 for k in range(6)] == carried(train)
    assert get_dataset("cifar100", "test", root=tmp_path).labels.tolist() == [99, 0, 50]
    # coarse labels are the superclasses: worm (99) is in 13, apple (0) in 4, mouse (50) in 16
    assert read_data_pickle(folder / "test")["coarse_labels"] == [13, 4, 16]
    assert read_data_pickle(folder / "meta")["coarse_label_names"][4] == "fruit_and_vegetables"


# -- Downsampled ImageNet ------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pickle", "npz"])
@pytest.mark.parametrize("size", [32, 64])
def test_imagenet_formats_and_label_shift(tmp_path, fmt, size):
    fx.write_imagenet(tmp_path, size, range(1, 31), [1000, 999, 998, 997], fmt=fmt)
    name = f"imagenet{size}"
    train = get_dataset(name, "train", root=tmp_path)
    check_tensors(train, 30, size, 1000)
    assert train.labels.tolist() == list(range(30)) == carried(train)  # 1..30 -> 0..29
    test = get_dataset(name, "test", root=tmp_path)
    check_tensors(test, 4, size, 1000)
    assert test.labels.tolist() == [999, 998, 997, 996] == carried(test)  # 1000.. -> 999..
    assert test.class_names[0] == "kit_fox" and test.class_names[999] == "dumbbell"


def test_imagenet_npz_preferred_over_pickle(tmp_path):
    fx.write_imagenet(tmp_path, 32, [5] * 30, [5], fmt="npz")
    fx.write_imagenet(tmp_path, 32, [9] * 30, [9], fmt="pickle")
    assert set(get_dataset("imagenet32", "train", root=tmp_path).labels.tolist()) == {4}


def test_imagenet_partial_download_names_missing_batches(tmp_path):
    fx.write_imagenet(tmp_path, 32, range(1, 31), [1], fmt="npz")
    os.remove(tmp_path / "Imagenet32_train_npz" / "train_data_batch_7.npz")
    with pytest.raises(DatasetNotFoundError, match="train_data_batch_7"):
        get_dataset("imagenet32", "train", root=tmp_path)


def test_imagenet_rejects_zero_based_labels(tmp_path):
    fx.write_imagenet(tmp_path, 32, [0] * 30, [1])
    with pytest.raises(ValueError, match="1..1000"):
        get_dataset("imagenet32", "train", root=tmp_path)


def test_imagenet_exclusion_by_indices_remaps_contiguously(tmp_path):
    # labels 1..30 -> 0..29; drop 0-based classes 1, 5 and 29
    fx.write_imagenet(tmp_path, 32, range(1, 31), [1])
    ds = get_dataset("imagenet32", "train", root=tmp_path, exclude=[1, 5, 29])
    check_tensors(ds, 27, 32, 997)
    kept_old = [c for c in range(30) if c not in (1, 5, 29)]
    expected_new = [c - sum(e < c for e in (1, 5, 29)) for c in kept_old]
    assert ds.labels.tolist() == expected_new
    assert carried(ds) == kept_old  # the images that survive are the right ones
    assert ds.class_names[1] == "Siberian_husky"  # old label 2 moved to 1
    assert len(ds.class_names) == 997


def test_imagenet_exclusion_by_list_name(tmp_path):
    excluded = load_class_list("tiny_imagenet")
    fx.write_imagenet(tmp_path, 32, range(1, 1001), [1])  # labels 1..1000
    ds = get_dataset("imagenet32", "train", root=tmp_path, exclude="tiny_imagenet")
    check_tensors(ds, 800, 32, 800)
    assert ds.labels.tolist() == list(range(800))
    assert carried(ds) == sorted(set(range(1000)) - set(excluded))


@pytest.mark.parametrize("bad, error", [("no_such_list", ValueError), ([1000], ValueError),
                                        ([1.5], TypeError), (3, TypeError)])
def test_imagenet_bad_exclusion(tmp_path, bad, error):
    fx.write_imagenet(tmp_path, 32, range(1, 31), [1])
    with pytest.raises(error):
        get_dataset("imagenet32", "test", root=tmp_path, exclude=bad)


# -- Tiny ImageNet -------------------------------------------------------------------
TINY_WNIDS = ("n01443537", "n01629819", "n01641577")


def test_tiny_imagenet_train_val_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    # val_0..val_5 hold classes 2,1,0,2,1,0 (not grouped by class, as the real val/)
    base = fx.write_tiny_imagenet(tmp_path, TINY_WNIDS, per_class=2, val_labels=[2, 1, 0, 2, 1, 0])
    listed = sorted(p for p in tmp_path.rglob("*") if p.parts[len(tmp_path.parts)] != "cache")
    train = get_dataset("tiny_imagenet", "train", root=tmp_path)
    check_tensors(train, 6, 64, 3)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2] == carried(train)
    assert train.class_names == ("goldfish", "European fire salamander", "bullfrog")
    gray = train.images[0]  # grayscale JPEG became 3 equal channels
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])

    test = get_dataset("tiny_imagenet", "test", root=tmp_path)
    check_tensors(test, 6, 64, 3)
    assert test.labels.tolist() == [2, 1, 0, 2, 1, 0] == carried(test)

    cache = tiny_imagenet.cache_path(base, "test")
    assert cache.parent == tmp_path / "cache" / "tiny_imagenet"  # not in the data root
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))
    assert sorted(p for p in tmp_path.rglob("*")
                  if p.parts[len(tmp_path.parts)] != "cache") == listed  # nothing written there
    np.savez(cache, images=np.zeros((6, 3, 64, 64), np.uint8), labels=test.labels.numpy(),
             fingerprint=np.load(cache)["fingerprint"])  # a cache hit must skip decoding
    assert int(get_dataset("tiny_imagenet", "test", root=tmp_path).images.max()) == 0
    assert int(get_dataset("tiny_imagenet", "test", root=tmp_path, cache=False).images.max()) > 0

    os.remove(base / "val" / "images" / "val_5.JPEG")  # file list changed: cache is stale
    (base / "val" / "val_annotations.txt").write_text(
        "\n".join((base / "val" / "val_annotations.txt").read_text().splitlines()[:5]) + "\n")
    assert len(get_dataset("tiny_imagenet", "test", root=tmp_path)) == 5


# -- OOD sets ------------------------------------------------------------------------
def test_svhn_labels_and_layout(tmp_path):
    fx.write_svhn(tmp_path, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2], "test")
    ds = get_dataset("svhn", "test", root=tmp_path)
    check_tensors(ds, 12, 32, 10)
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2] == carried(ds)  # 10 -> 0
    small = get_dataset("svhn", "test", root=tmp_path, size=16, limit=5, seed=3)
    check_tensors(small, 5, 16, 10)
    with pytest.raises(DatasetNotFoundError, match="train_32x32.mat"):
        get_dataset("svhn", "train", root=tmp_path)


@pytest.mark.parametrize("name, folder, kwargs", [
    ("textures", "dtd/images", {}),
    ("places365", "places365/test_subset", {}),
    ("lsun", "LSUN_C", {}),
    ("lsun", "LSUN", {}),
    ("lsun", "LSUN_resize", {"variant": "resize"}),
    ("isun", "iSUN/iSUN_patches", {}),
])
def test_image_folder_sets(tmp_path, name, folder, kwargs):
    fx.write_image_folder(tmp_path / folder, [f"class{i % 2}/img{i:03d}.jpg" for i in range(7)],
                          size=(48, 40))
    ds = get_dataset(name, "test", root=tmp_path, **kwargs)
    check_tensors(ds, 7, 32, 1)
    assert ds.labels.tolist() == [0] * 7
    assert carried(ds) == [0, 2, 4, 6, 1, 3, 5]  # sorted by path: class0/ first
    assert get_dataset(name, "train", root=tmp_path, **kwargs).images.shape == ds.images.shape


def test_image_folder_size_limit_and_seed(tmp_path):
    fx.write_image_folder(tmp_path / "iSUN", [f"img{i:03d}.png" for i in range(9)], size=(30, 50))
    (tmp_path / "iSUN" / "notes.txt").write_text("not an image")
    full = get_dataset("isun", "test", root=tmp_path, size=20)
    check_tensors(full, 9, 20, 1)
    assert carried(full) == list(range(9))  # sorted by file name, colours kept
    a = get_dataset("isun", "test", root=tmp_path, limit=4, seed=1)
    b = get_dataset("isun", "test", root=tmp_path, limit=4, seed=1)
    c = get_dataset("isun", "test", root=tmp_path, limit=4, seed=2)
    check_tensors(a, 4, 32, 1)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert len(get_dataset("isun", "test", root=tmp_path, limit=100)) == 9
    with pytest.raises(ValueError, match="variant"):
        get_dataset("lsun", "test", root=tmp_path, variant="huge")
    with pytest.raises(ValueError, match="limit"):
        get_dataset("isun", "test", root=tmp_path, limit=0)


def test_empty_image_folder_is_not_found(tmp_path):
    (tmp_path / "dtd" / "images").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no image files"):
        get_dataset("textures", "test", root=tmp_path)
