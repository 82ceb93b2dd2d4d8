"""The miniature data root (lib/data/miniature.py): every dataset of the paper
preset written in its published format, small but class-complete, and read
back through ``lib.data.get_dataset``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.data import get_dataset
from lib.data.safe_pickle import read_data_pickle
from lib.data.class_exclusion import load_class_list
from lib.data.miniature import (
    DTD_CLASSES,
    MARKER,
    MINIATURE_DATASETS,
    decode_labels,
    encode_images,
    main,
    tiny_imagenet_wnids,
    write_miniature,
)

PER_CLASS, TEST_PER_CLASS, OOD_IMAGES, SEED = 2, 1, 6, 3
REPO = Path(__file__).resolve().parents[2]

# name -> (classes, image size, {split: images per class}); OOD sets: one "class"
CLASSED = {
    "cifar10": (10, 32, {"train": PER_CLASS, "test": TEST_PER_CLASS}),
    "cifar100": (100, 32, {"train": PER_CLASS, "test": TEST_PER_CLASS}),
    "imagenet32": (1000, 32, {"train": PER_CLASS, "test": TEST_PER_CLASS}),
    "imagenet64": (1000, 64, {"train": PER_CLASS, "test": TEST_PER_CLASS}),
    "tiny_imagenet": (200, 64, {"train": PER_CLASS, "test": TEST_PER_CLASS}),
    "svhn": (10, 32, {"test": TEST_PER_CLASS}),
}
OOD = {"textures": len(DTD_CLASSES), "places365": OOD_IMAGES, "lsun": OOD_IMAGES,
       "lsun_raw": OOD_IMAGES, "isun": OOD_IMAGES}


@pytest.fixture(autouse=True)
def _cache_outside(tmp_path_factory, monkeypatch):
    """Tiny ImageNet's decoded-array cache goes to a temporary folder."""
    monkeypatch.setenv("CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("miniature")
    write_miniature(directory, per_class=PER_CLASS, test_per_class=TEST_PER_CLASS, seed=SEED,
                    ood_images=OOD_IMAGES)
    return directory


@pytest.fixture(scope="module")
def pickle_root(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("miniature_pickle")
    write_miniature(directory, per_class=1, test_per_class=1, seed=SEED,
                    imagenet_format="pickle", datasets=["imagenet32", "imagenet64"])
    return directory


def check_classed(ds, num_classes, size, per_class, kept=None):
    """Counts, shape, 0-based labels, every class ``per_class`` times, and each
    image carrying its (original, 0-based) label."""
    assert ds.images.dtype == torch.uint8 and tuple(ds.images.shape[1:]) == (3, size, size)
    assert ds.num_classes == num_classes and len(ds) == num_classes * per_class
    labels = ds.labels.numpy()
    assert labels.min() == 0 and labels.max() == num_classes - 1
    assert np.bincount(labels, minlength=num_classes).tolist() == [per_class] * num_classes
    original = labels if kept is None else kept[labels]
    assert decode_labels(ds.images.numpy()).tolist() == original.tolist()


# -- every dataset, read back --------------------------------------------------------
@pytest.mark.parametrize("name, split", [(n, s) for n, (_, _, per) in CLASSED.items() for s in per])
def test_classed_datasets_are_complete_and_labelled(root, name, split):
    num_classes, size, per_class = CLASSED[name]
    ds = get_dataset(name, split, root=root)
    check_classed(ds, num_classes, size, per_class[split])
    assert len(ds.class_names) == num_classes


@pytest.mark.parametrize("size, exclusion", [(32, "cifar10_related"), (64, "tiny_imagenet"),
                                             (32, "tiny_imagenet"), (64, "cifar10_related")])
@pytest.mark.parametrize("split", ["train", "test"])
def test_imagenet_class_exclusion(root, size, exclusion, split):
    kept = np.setdiff1d(np.arange(1000), load_class_list(exclusion))
    ds = get_dataset(f"imagenet{size}", split, root=root, exclude=exclusion)
    check_classed(ds, len(kept), size,
                  PER_CLASS if split == "train" else TEST_PER_CLASS, kept=kept)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("split", ["train", "test"])
def test_imagenet_pickled_variant(pickle_root, size, split):
    assert not list(pickle_root.rglob("*.npz"))  # the loader reads the pickles
    check_classed(get_dataset(f"imagenet{size}", split, root=pickle_root), 1000, size, 1)
    kept = np.setdiff1d(np.arange(1000), load_class_list("tiny_imagenet"))
    ds = get_dataset(f"imagenet{size}", split, root=pickle_root, exclude="tiny_imagenet")
    check_classed(ds, 800, size, 1, kept=kept)


@pytest.mark.parametrize("name, options",
                         [(n, {}) for n in OOD] + [("lsun", {"variant": "resize"})])
def test_ood_image_folders(root, name, options):
    for size in (32, 64):  # the CIFAR and the Tiny ImageNet resolutions
        ds = get_dataset(name, "test", root=root, size=size, **options)
        assert tuple(ds.images.shape) == (OOD[name], 3, size, size)
        assert ds.labels.tolist() == [0] * OOD[name] and ds.num_classes == 1


def test_every_dataset_the_paper_preset_reads_is_there(root):
    """The paper preset's own list of needs (lib.preflight): all found and
    all loadable from the miniature root."""
    from lib.preflight import needed_datasets, preflight

    assert preflight("paper", root)
    for need in needed_datasets("paper"):
        assert len(get_dataset(need.dataset, need.split, root=root, **dict(need.options))) > 0


# -- the files, as published ---------------------------------------------------------
def test_official_file_layout(root):
    cifar10 = root / "cifar-10-batches-py"
    assert sorted(p.name for p in cifar10.iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])
    batch = read_data_pickle(cifar10 / "data_batch_1")
    assert set(batch) == {"batch_label", "data", "labels", "filenames"}
    assert batch["data"].dtype == np.uint8 and batch["data"].shape[1] == 3072
    assert sorted(p.name for p in (root / "cifar-100-python").iterdir()) == [
        "meta", "test", "train"]

    for size, folders in ((32, ["Imagenet32_train_npz"] * 10),
                          (64, ["Imagenet64_train_part1_npz"] * 5
                           + ["Imagenet64_train_part2_npz"] * 5)):
        labels = []
        for b, folder in enumerate(folders, 1):
            with np.load(root / folder / f"train_data_batch_{b}.npz") as f:
                assert set(f.files) == {"data", "labels", "mean"}
                assert f["data"].dtype == np.uint8 and f["data"].shape[1] == 3 * size * size
                labels += f["labels"].tolist()
        assert sorted(set(labels)) == list(range(1, 1001))  # the files' labels are 1..1000
        assert labels != sorted(labels)  # shuffled, as the real batches
        with np.load(root / f"Imagenet{size}_val_npz" / "val_data.npz") as f:
            assert sorted(f["labels"].tolist()) == list(range(1, 1001))

    base = root / "tiny-imagenet-200"
    wnids = (base / "wnids.txt").read_text().split()
    assert wnids == tiny_imagenet_wnids() and len(wnids) == 200 and wnids[0] == "n02124075"
    assert "n02124075\tEgyptian cat" in (base / "words.txt").read_text()
    assert len(list((base / "train" / wnids[0] / "images").glob("*.JPEG"))) == PER_CLASS
    assert (base / "train" / wnids[0] / f"{wnids[0]}_boxes.txt").is_file()
    rows = [r.split("\t") for r in (base / "val" / "val_annotations.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == [f"val_{i}.JPEG" for i in range(len(rows))]
    classes = [r[1] for r in rows]
    assert sorted(set(classes)) == sorted(wnids) and classes != sorted(classes)  # unsorted val/
    assert not any(p.is_dir() for p in (base / "val" / "images").iterdir())
    assert list((base / "test" / "images").glob("test_*.JPEG"))

    from scipy.io import loadmat
    mat = loadmat(root / "svhn" / "test_32x32.mat")
    assert mat["X"].shape == (32, 32, 3, 10 * TEST_PER_CLASS)
    assert sorted(mat["y"].ravel().tolist()) == sorted(list(range(1, 11)) * TEST_PER_CLASS)

    assert sorted(p.name for p in (root / "dtd" / "images").iterdir()) == sorted(DTD_CLASSES)
    assert len(list((root / "lsun_test").rglob("*.webp"))) == OOD_IMAGES
    assert (root / MARKER).is_file()


def test_grayscale_tiny_imagenet_image_becomes_rgb(root):
    from PIL import Image

    wnid = tiny_imagenet_wnids()[0]
    path = root / "tiny-imagenet-200" / "train" / wnid / "images" / f"{wnid}_0.JPEG"
    with Image.open(path) as image:
        assert image.mode == "L"
    first = get_dataset("tiny_imagenet", "train", root=root).images[0]
    assert torch.equal(first[0], first[1]) and torch.equal(first[1], first[2])


def test_encoding_survives_every_value():
    values = np.arange(4096)
    assert decode_labels(encode_images(values, 8, seed=1)).tolist() == values.tolist()
    assert decode_labels(encode_images([-1, 4096], 8)).tolist() == [4095, 0]  # modulo 4096


# -- seeds, rewriting, refusals ------------------------------------------------------
def test_seed_fixes_the_shuffle(tmp_path):
    for directory, seed in (("a", 1), ("b", 1), ("c", 2)):
        write_miniature(tmp_path / directory, seed=seed, datasets=["cifar10"])
    a, b, c = (get_dataset("cifar10", "train", root=tmp_path / d) for d in "abc")
    assert torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)
    assert not torch.equal(a.labels, c.labels)


def test_rewriting_a_miniature_replaces_it(tmp_path):
    write_miniature(tmp_path, per_class=3, ood_images=5, datasets=["cifar10", "isun"])
    write_miniature(tmp_path, per_class=1, ood_images=2, datasets=["cifar10", "isun"])
    assert len(get_dataset("cifar10", "train", root=tmp_path)) == 10
    assert len(get_dataset("isun", "test", root=tmp_path)) == 2  # no stale image left


def test_refuses_to_write_over_real_data(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "dtd").mkdir()
    with pytest.raises(FileExistsError) as error:
        write_miniature(tmp_path)
    message = str(error.value)
    assert "cifar-10-batches-py" in message and "dtd" in message and MARKER in message
    assert not (tmp_path / MARKER).exists() and not list((tmp_path / "dtd").iterdir())


@pytest.mark.parametrize("options, match", [
    ({"per_class": 0}, r"per_class=0 .*\[1, inf\]"),
    ({"test_per_class": 1.5}, "test_per_class"),
    ({"imagenet_format": "tar"}, r"imagenet_format='tar'.*'npz', 'pickle'"),
    ({"datasets": ["mnist"]}, r"datasets='mnist'.*'cifar10'"),
    ({"datasets": []}, "datasets"),
])
def test_bad_options_name_parameter_value_and_choices(tmp_path, options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        write_miniature(tmp_path, **options)
    assert not list(tmp_path.iterdir())  # checked before anything is written


# -- the command line ----------------------------------------------------------------
def test_command_line_writes_and_reports(tmp_path):
    target = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "lib.data.miniature", str(target)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in MINIATURE_DATASETS:
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    assert re.search(r"imagenet32\s+1000 classes\s+train 3000, test 2000", out)
    total = re.search(r"^total ([\d.]+) MB in (.+)$", out, re.M)
    assert total and Path(total.group(2)) == target
    assert 0 < float(total.group(1)) < 10  # a few MB
    assert len(get_dataset("imagenet64", "test", root=target)) == 2000


def test_command_line_bad_option_is_one_line(tmp_path, capsys):
    (tmp_path / "iSUN").mkdir()
    assert main([str(tmp_path), "--only", "isun"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "iSUN" in err and "\n" not in err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--imagenet-format", "zip"])
