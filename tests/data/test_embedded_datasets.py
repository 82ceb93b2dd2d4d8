"""The embedded offline datasets: Fashion-MNIST (IDX reader), the fractal
source, the synthetic and offline OOD sets (design.md §5)."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from lib.data import DatasetNotFoundError, dataset_info, get_dataset
from lib.data import fashion_mnist, fractal

GENERATED = ("gaussian", "rademacher", "blobs", "uniform", "glyphs")
EMBEDDED = ("fashion_mnist", "fractal", "digits") + GENERATED
SMALL_FRACTAL = dict(num_classes=4, per_class=3, cache=False)


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


# -- Fashion-MNIST ---------------------------------------------------------------------------
def write_idx(path, array: np.ndarray, magic: int | None = None):
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data += array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_fashion(folder, n=5, gz=True, magic=None):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = np.arange(n) % 10
    ext = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x, magic)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
    return x, y


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-copy")
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))


def test_fashion_mnist_downloads_into_the_cache_never_the_root(tmp_path, no_system_copy,
                                                                monkeypatch):
    """``make data`` without Debian's package: torchvision's download goes to
    the project's cache; the data root is only read (issue 14, item 5)."""
    import torchvision

    calls = []

    def fake_download(root, train, download):
        calls.append((root, train, download))
        write_fashion(tmp_path / "cache" / "fashion_mnist" / "FashionMNIST" / "raw")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake_download)
    root = tmp_path / "data"
    assert fashion_mnist.main([str(root)]) == 0
    assert calls and all(c[0] == str(tmp_path / "cache" / "fashion_mnist") and c[2]
                         for c in calls)
    assert not root.exists()
    assert len(get_dataset("fashion_mnist", "test", root=root)) == 5
    assert fashion_mnist.main([str(root)]) == 0 and len(calls) == 2  # found: no new download


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["fashion-mnist", "FashionMNIST/raw"])
def test_fashion_mnist_reads_idx(tmp_path, no_system_copy, gz, layout):
    x, y = write_fashion(tmp_path / layout, gz=gz)
    for split in ("train", "test"):
        ds = get_dataset("fashion_mnist", split, root=tmp_path)
        assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype == torch.uint8
        assert torch.equal(ds.images[:, 0], torch.from_numpy(x))
        assert ds.labels.tolist() == y.tolist() and ds.num_classes == 10
        assert ds.class_names[0] == "T-shirt/top"


def test_fashion_mnist_corrupt_magic(tmp_path, no_system_copy):
    write_fashion(tmp_path / "fashion-mnist", gz=False, magic=0x0000_0999)
    with pytest.raises(ValueError, match="magic"):
        get_dataset("fashion_mnist", root=tmp_path)


def test_fashion_mnist_truncated(tmp_path, no_system_copy):
    write_fashion(tmp_path / "fashion-mnist", gz=False)
    path = tmp_path / "fashion-mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        get_dataset("fashion_mnist", root=tmp_path)


def test_fashion_mnist_missing_names_every_path(tmp_path, no_system_copy):
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset("fashion_mnist", root=tmp_path)
    msg = str(err.value)
    for folder in fashion_mnist.candidate_dirs(tmp_path):
        assert str(folder) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "download=True" in msg


@pytest.mark.skipif(not (fashion_mnist.SYSTEM_DIR / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_system_copy(tmp_path):
    train = get_dataset("fashion_mnist", "train", root=tmp_path)
    test = get_dataset("fashion_mnist", "test", root=tmp_path)
    assert len(train) == 60000 and len(test) == 10000
    assert train.class_counts().tolist() == [6000] * 10


# -- every embedded dataset ------------------------------------------------------------------
@pytest.mark.parametrize("name", EMBEDDED)
def test_info_is_complete(name):
    info = dataset_info(name)
    assert info.name == name and info.num_classes >= 1
    assert info.source and info.licence and info.how_to_get


@pytest.mark.parametrize("name", ("fractal", "digits") + GENERATED)
def test_options_are_checked(name, tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        get_dataset(name, root=tmp_path, bogus=1)
    with pytest.raises(ValueError, match="channels"):
        get_dataset(name, root=tmp_path, channels=2)


@pytest.mark.parametrize("name", ("digits",) + GENERATED)
def test_ood_sets_shape_and_channels(name):
    opts = {} if name == "digits" else {"num": 7}
    ds = get_dataset(name, "test", size=20, channels=3, **opts)
    assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (3, 20, 20)
    assert ds.num_classes == 1 and int(ds.labels.abs().sum()) == 0


def test_noise_statistics():
    def mean(name):
        return get_dataset(name, "test", num=200).images.float().mean().item() / 255
    assert abs(mean("uniform") - 0.5) < 0.02 and abs(mean("gaussian") - 0.5) < 0.02
    rad = get_dataset("rademacher", "test", num=50).images
    assert set(rad.unique().tolist()) == {0, 255}
    blobs = get_dataset("blobs", "test", num=50).images
    assert blobs.min() == 0 and 0 < int((blobs == 0).sum()) < blobs.numel()
    assert int(((blobs > 0) & (blobs < 191)).sum()) == 0  # values < 0.75 were zeroed


@pytest.mark.parametrize("name", GENERATED)
def test_same_index_same_image_for_any_num(name):
    small = get_dataset(name, "test", num=5).images
    large = get_dataset(name, "test", num=12).images
    assert torch.equal(small, large[:5])
    assert not torch.equal(get_dataset(name, "train", num=5).images, small)


def test_digits_splits_are_disjoint_halves():
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    assert len(train) + len(test) == 1797


# -- fractal ---------------------------------------------------------------------------------
def test_fractal_class_subset_and_prefix_match_larger_set():
    small, _ = fractal.generate("train", num_classes=3, per_class=2, cache=False)
    large, labels = fractal.generate("train", num_classes=5, per_class=4, cache=False)
    keep = (labels < 3) & (torch.arange(len(labels)) % 4 < 2)
    assert torch.equal(small, large[keep])
    test, _ = fractal.generate("test", num_classes=3, per_class=2, test_per_class=2, cache=False)
    assert not any(torch.equal(a, b) for a in test for b in small)


def test_fractal_shapes_labels_and_content(tmp_path):
    ds = get_dataset("fractal", "train", root=tmp_path, **SMALL_FRACTAL, size=32, channels=3)
    assert ds.images.shape == (12, 3, 32, 32) and ds.num_classes == 4
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    filled = (ds.images > 0).float().mean(dim=(1, 2, 3))
    assert bool((filled > 0.02).all()) and bool((filled < 0.9).all())
    assert len(get_dataset("fractal", "test", root=tmp_path, **SMALL_FRACTAL)) == 4


def test_fractal_fill_ratio_rule():
    kept = fractal.class_parameters(0, 40, 4, 0.15)
    first = fractal.class_parameters(0, 40, 4, 0.0)  # every class's attempt 0, unfiltered
    params, _, _, fill, attempts = kept
    assert bool((fill >= 0.15).all())
    assert bool((first[4] == 0).all())
    redrawn = attempts > 0
    assert redrawn.any(), "no class was rejected: the rule is not exercised"
    assert bool((first[3][redrawn] < 0.15).all())
    assert np.array_equal(params[~redrawn], first[0][~redrawn])


def test_fractal_cache_round_trip_and_corruption(tmp_path, monkeypatch):
    opts = dict(num_classes=3, per_class=2)
    root = tmp_path / "data_root"
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    fresh = get_dataset("fractal", root=root, **opts)
    path = fractal.cache_path("train", fractal.resolve_options(**opts))
    assert path.parent == tmp_path / "cache" / "fractal"  # the cache dir, never the data root
    assert path.is_file() and not list(path.parent.glob("*.tmp")) and not root.exists()
    real_generate = fractal.generate

    def must_not_generate(*a, **k):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(fractal, "generate", must_not_generate)
    cached = get_dataset("fractal", root=root, **opts)
    assert torch.equal(cached.images, fresh.images) and torch.equal(cached.labels, fresh.labels)
    monkeypatch.setattr(fractal, "generate", real_generate)

    # A tampered payload (valid npz, stale content hash) and a truncated file: both regenerated.
    with np.load(path) as z:
        parts = {k: z[k] for k in z.files}
    parts["images"] = parts["images"].copy()
    parts["images"].flat[0] ^= 0xFF
    with open(path, "wb") as f:
        np.savez(f, **parts)
    for damage in ("tampered", "truncated"):
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.warns(UserWarning, match="corrupt"):
            again = get_dataset("fractal", root=root, **opts)
        assert torch.equal(again.images, fresh.images)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert torch.equal(get_dataset("fractal", root=root, **opts).images, fresh.images)


# -- byte-identical in fresh processes -------------------------------------------------------
HASH_SCRIPT = """
import hashlib
from lib.data import get_dataset
def h(ds): return hashlib.sha256(ds.images.numpy().tobytes()).hexdigest()
print("fractal1", h(get_dataset("fractal", num_classes=4, per_class=3, cache=False)))
print("fractal3", h(get_dataset("fractal", "test", num_classes=3, per_class=2, channels=3,
                                size=20, cache=False)))
for name in ("gaussian", "rademacher", "blobs", "uniform", "glyphs"):
    print(name, h(get_dataset(name, num=20)))
print("digits", h(get_dataset("digits")))
"""


def test_generated_sets_identical_in_fresh_processes():
    procs = [subprocess.Popen([sys.executable, "-c", HASH_SCRIPT], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out)
    assert outs[0] == outs[1]
    hashes = dict(line.split() for line in outs[0].strip().splitlines())
    assert len(hashes) == 8
    here = get_dataset("fractal", num_classes=4, per_class=3, cache=False)
    assert hashes["fractal1"] == sha(here.images)
