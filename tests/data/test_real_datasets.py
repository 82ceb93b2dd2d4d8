"""Real datasets read from tiny files in their exact on-disk formats."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import real_fixtures as fx
from lib.data import DatasetNotFoundError, dataset_info, get_dataset
from lib.data.class_exclusion import load_class_list

REAL = ["cifar10", "cifar100", "imagenet32", "imagenet64", "tiny_imagenet",
        "svhn", "textures", "places365", "lsun", "isun"]


def check_tensors(ds, n, size, num_classes):
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert tuple(ds.images.shape) == (n, 3, size, size)
    assert ds.num_classes == num_classes and len(ds) == n
    assert int(ds.labels.min()) >= 0 and int(ds.labels.max()) < num_classes


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
def test_cifar10_layout_shapes_and_order(tmp_path):
    fx.write_cifar10(tmp_path, per_batch=4)
    train = get_dataset("cifar10", "train", root=tmp_path)
    check_tensors(train, 20, 32, 10)
    expected = fx.planar_images(20, 32)
    assert torch.equal(train.images, torch.from_numpy(expected))
    assert train.labels.tolist() == [k % 10 for k in range(20)]
    assert train.class_names[0] == "airplane"
    test = get_dataset("cifar10", "test", root=tmp_path)
    check_tensors(test, 4, 32, 10)
    assert test.labels.tolist() == [(20 + k) % 10 for k in range(4)]


def test_cifar10_partial_download_names_missing_files(tmp_path):
    fx.write_cifar10(tmp_path, skip=("data_batch_3", "data_batch_5"))
    with pytest.raises(DatasetNotFoundError, match="data_batch_3, data_batch_5"):
        get_dataset("cifar10", "train", root=tmp_path)
    assert len(get_dataset("cifar10", "test", root=tmp_path)) == 4  # test batch is there


def test_cifar100_fine_labels(tmp_path):
    fx.write_cifar100(tmp_path, n_train=6, n_test=3)
    train = get_dataset("cifar100", "train", root=tmp_path)
    check_tensors(train, 6, 32, 100)
    assert train.labels.tolist() == [(7 * k) % 100 for k in range(6)]
    assert len(get_dataset("cifar100", "test", root=tmp_path)) == 3


# -- Downsampled ImageNet ------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pickle", "npz"])
@pytest.mark.parametrize("size", [32, 64])
def test_imagenet_formats_and_label_shift(tmp_path, fmt, size):
    fx.write_imagenet(tmp_path, size=size, fmt=fmt, per_batch=3, n_val=4)
    name = f"imagenet{size}"
    train = get_dataset(name, "train", root=tmp_path)
    check_tensors(train, 30, size, 1000)
    assert train.labels.tolist() == list(range(30))  # 1..30 -> 0..29
    assert torch.equal(train.images[:3], torch.from_numpy(fx.planar_images(3, size)))
    test = get_dataset(name, "test", root=tmp_path)
    check_tensors(test, 4, size, 1000)
    assert test.labels.tolist() == [999, 998, 997, 996]  # 1000..997 -> 999..996
    assert test.class_names[0] == "kit_fox" and test.class_names[999] == "dumbbell"


def test_imagenet_npz_preferred_over_pickle(tmp_path):
    fx.write_imagenet(tmp_path, fmt="npz", label_of=lambda i: 5)
    fx.write_imagenet(tmp_path, fmt="pickle", label_of=lambda i: 9)
    assert set(get_dataset("imagenet32", "train", root=tmp_path).labels.tolist()) == {4}


def test_imagenet_partial_download_names_missing_batches(tmp_path):
    fx.write_imagenet(tmp_path, fmt="npz")
    os.remove(tmp_path / "Imagenet32_train_npz" / "train_data_batch_7.npz")
    with pytest.raises(DatasetNotFoundError, match="train_data_batch_7"):
        get_dataset("imagenet32", "train", root=tmp_path)


def test_imagenet_rejects_zero_based_labels(tmp_path):
    fx.write_imagenet(tmp_path, label_of=lambda i: 0)
    with pytest.raises(ValueError, match="1..1000"):
        get_dataset("imagenet32", "train", root=tmp_path)


def test_imagenet_exclusion_by_indices_remaps_contiguously(tmp_path):
    # labels 1..30 -> 0..29; drop 0-based classes 1, 5 and 29
    fx.write_imagenet(tmp_path, per_batch=3)
    ds = get_dataset("imagenet32", "train", root=tmp_path, exclude=[1, 5, 29])
    check_tensors(ds, 27, 32, 997)
    kept_old = [c for c in range(30) if c not in (1, 5, 29)]
    expected_new = [c - sum(e < c for e in (1, 5, 29)) for c in kept_old]
    assert ds.labels.tolist() == expected_new
    # the images that survive are the right ones (image k has value k in channel 0)
    assert ds.images[:, 0, 0, 0].tolist() == kept_old
    assert ds.class_names[1] == "Siberian_husky"  # old label 2 moved to 1
    assert len(ds.class_names) == 997


def test_imagenet_exclusion_by_list_name(tmp_path):
    excluded = load_class_list("tiny_imagenet")
    fx.write_imagenet(tmp_path, per_batch=100, label_of=lambda i: 1 + i)  # labels 1..1000
    ds = get_dataset("imagenet32", "train", root=tmp_path, exclude="tiny_imagenet")
    check_tensors(ds, 800, 32, 800)
    assert ds.labels.tolist() == list(range(800))
    kept = sorted(set(range(1000)) - set(excluded))
    assert ds.images[:, 0, 0, 0].tolist() == [k % 256 for k in kept]


@pytest.mark.parametrize("bad, error", [("no_such_list", ValueError), ([1000], ValueError),
                                        ([1.5], TypeError), (3, TypeError)])
def test_imagenet_bad_exclusion(tmp_path, bad, error):
    fx.write_imagenet(tmp_path)
    with pytest.raises(error):
        get_dataset("imagenet32", "test", root=tmp_path, exclude=bad)


# -- Tiny ImageNet -------------------------------------------------------------------
def test_tiny_imagenet_train_val_and_cache(tmp_path):
    base = fx.write_tiny_imagenet(tmp_path, per_class=2, val_per_class=2)
    train = get_dataset("tiny_imagenet", "train", root=tmp_path)
    check_tensors(train, 6, 64, 3)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert train.class_names == ("goldfish", "European fire salamander", "bullfrog")
    gray = train.images[0]  # grayscale JPEG became 3 equal channels
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert abs(int(train.images[3, 0, 32, 32]) - 50) <= 3  # class 1, k=1: red 50

    test = get_dataset("tiny_imagenet", "test", root=tmp_path)
    check_tensors(test, 6, 64, 3)
    # val_annotations lists classes 2,1,0,2,1,0 for val_0..val_5 (sorted by file name)
    assert test.labels.tolist() == [2, 1, 0, 2, 1, 0]

    cache = base / ".cache" / "test.npz"
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))
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
    fx.write_svhn(tmp_path, "test", n=12)
    ds = get_dataset("svhn", "test", root=tmp_path)
    check_tensors(ds, 12, 32, 10)
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]  # 10 -> 0
    assert torch.equal(ds.images, torch.from_numpy(fx.planar_images(12, 32)))
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
    fx.write_image_folder(tmp_path / folder, n=7, size=(48, 40), subfolders=2)
    ds = get_dataset(name, "test", root=tmp_path, **kwargs)
    check_tensors(ds, 7, 32, 1)
    assert ds.labels.tolist() == [0] * 7
    assert get_dataset(name, "train", root=tmp_path, **kwargs).images.shape == ds.images.shape


def test_image_folder_size_limit_and_seed(tmp_path):
    fx.write_image_folder(tmp_path / "iSUN", n=9, size=(30, 50), subfolders=0, ext=".png")
    (tmp_path / "iSUN" / "notes.txt").write_text("not an image")
    full = get_dataset("isun", "test", root=tmp_path, size=20)
    check_tensors(full, 9, 20, 1)
    reds = full.images[:, 0, 10, 10].tolist()
    assert reds == [20 * i for i in range(9)]  # sorted by file name, colours kept
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
