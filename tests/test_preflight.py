"""Bad input, checked before anything runs (issue: the paper preset, item 5):
the preflight names every missing dataset of the paper preset, where it was
looked for and how to get it; smoke and quick read nothing from the data root;
nothing is ever written into the data root; ``make`` validates PRESET, DEVICE
and DATA_ROOT before the install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lib.data import dataset_info, get_dataset
from lib.data.errors import DatasetNotFoundError
from lib.data.preflight import MissingDatasetsError
from lib.preflight import main, needed_datasets, preflight
from lib.data.registry import check_present, default_root, resolve_root
from lib.presets import DEVICE_CHOICES, check_parameters

REPO = Path(__file__).resolve().parents[1]
# The paper preset's datasets read from the data root (paper §3, §4; Table 4's OOD sets).
PAPER_DATASETS = {"cifar10", "cifar100", "imagenet32", "imagenet64", "tiny_imagenet",
                  "svhn", "textures", "places365"}


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*")) if path.exists() else []


def touch(root: Path, *paths: str) -> None:
    """Empty files in the loaders' layouts: present, but not loadable data."""
    for relative in paths:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")


def missing_of(error: MissingDatasetsError) -> set[str]:
    return set(error.missing)


def test_paper_preset_names_every_missing_dataset_where_and_how(tmp_path):
    with pytest.raises(MissingDatasetsError) as failure:
        preflight("paper", tmp_path)
    error = failure.value
    assert isinstance(error, DatasetNotFoundError)
    assert PAPER_DATASETS <= missing_of(error)
    text = str(error)
    first = text.splitlines()[0]
    assert str(tmp_path) in first and "paper preset" in first
    lines = text.splitlines()[1:]
    for name in missing_of(error):  # each: where it was looked for, how to get it
        assert name in first
        mine = [line for line in lines if line.startswith(f"  - {name} (for ")]
        assert mine and all(f"not found at {tmp_path}" in line and "How to get it: " in line
                            for line in mine), mine
    for name in PAPER_DATASETS:
        assert f"dataset '{name}' not found at {tmp_path}" in text
        assert dataset_info(name).how_to_get in text
    assert files_under(tmp_path) == []


def test_only_the_missing_datasets_are_named(tmp_path):
    touch(tmp_path, *[f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)],
          "cifar-10-batches-py/test_batch", "cifar-100-python/train",
          "svhn/test_32x32.mat", "dtd/images/banded/banded_0001.jpg",
          "places365/empty_folder_only/.keep")
    with pytest.raises(MissingDatasetsError) as failure:
        preflight("paper", tmp_path)
    missing = missing_of(failure.value)
    assert not {"cifar10", "svhn", "textures"} & missing  # present (and never read)
    assert {"cifar100", "places365", "imagenet32", "tiny_imagenet"} <= missing
    text = str(failure.value)
    assert "incomplete download, missing: test" in text  # CIFAR-100 without its test batch
    assert "no image files" in text  # a Places365 folder without an image


def test_a_complete_root_passes_without_reading_any_data(tmp_path):
    """Every needed split present as empty marker files: the preflight only looks."""
    for need in needed_datasets("paper"):
        for _ in range(3):
            try:
                check_present(need.dataset, need.split, tmp_path, **dict(need.options))
                break
            except DatasetNotFoundError as error:
                touch(tmp_path, *_markers(error, tmp_path))
        else:
            pytest.fail(f"the markers do not satisfy the check of {need}")
    found = preflight("paper", tmp_path)
    assert PAPER_DATASETS <= set(found)
    with pytest.raises(Exception):  # the markers are not data: loading them fails
        get_dataset("cifar10", "test", root=tmp_path)


def _markers(error: DatasetNotFoundError, root: Path) -> list[str]:
    """Marker files satisfying one loader's check, from what it says it looked for."""
    relative = error.path.relative_to(root).as_posix()
    layouts = {
        "cifar-10-batches-py": [f"cifar-10-batches-py/{n}" for n in
                                [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]],
        "cifar-100-python": ["cifar-100-python/train", "cifar-100-python/test"],
        "svhn/test_32x32.mat": ["svhn/test_32x32.mat"],
        "dtd/images": ["dtd/images/banded/a.jpg"],
        "places365": ["places365/test/a.jpg"],
        "LSUN_C": ["LSUN_C/a.jpg"],
        "lsun_test": ["lsun_test/a.webp"],
        "iSUN": ["iSUN/a.jpg"],
        "tiny-imagenet-200": ["tiny-imagenet-200/wnids.txt",
                              "tiny-imagenet-200/val/val_annotations.txt"],
    }
    for size in (32, 64):
        layouts[f"Imagenet{size}_train_npz"] = [f"Imagenet{size}_train_npz/train_data_batch_{i}.npz"
                                                for i in range(1, 11)]
        layouts[f"Imagenet{size}_val_npz"] = [f"Imagenet{size}_val_npz/val_data.npz"]
    if relative not in layouts:
        raise AssertionError(f"no marker layout for {error}")
    return layouts[relative]


def test_the_miniature_root_passes_and_one_without_svhn_names_only_svhn(tmp_path):
    """The miniature data root (``python -m lib.data.miniature``, every dataset of
    the paper preset in its published format) passes; without SVHN it names SVHN."""
    pytest.importorskip("lib.data.miniature")
    subprocess.run([sys.executable, "-m", "lib.data.miniature", str(tmp_path)], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    assert PAPER_DATASETS <= set(preflight("paper", tmp_path))
    shutil.rmtree(tmp_path / "svhn")
    with pytest.raises(MissingDatasetsError) as failure:
        preflight("paper", tmp_path)
    assert missing_of(failure.value) == {"svhn"}
    assert str(failure.value).startswith("1 dataset needed by the paper preset is missing")


def test_a_missing_data_root_is_named_and_never_created(tmp_path):
    root = tmp_path / "nonexistent"
    with pytest.raises(MissingDatasetsError) as failure:
        preflight("paper", root)
    assert f"the data root {root} (data_root / DATA_ROOT) does not exist" in str(failure.value)
    assert PAPER_DATASETS <= missing_of(failure.value)
    assert not root.exists()


@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_smoke_and_quick_need_no_data_root(tmp_path, preset):
    root = tmp_path / "nonexistent"
    assert needed_datasets(preset) == {}
    assert preflight(preset, root) == []
    assert not root.exists()


def test_an_empty_data_root_is_the_default_never_the_current_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_ROOT", "")
    assert default_root() == Path("~/data").expanduser()
    assert resolve_root("") == resolve_root(None) == default_root()
    with pytest.raises(ValueError, match=r"data_root='' \(DATA_ROOT\) is empty"):
        check_parameters("quick", "auto", "")


def test_the_command_prints_the_list_and_no_traceback(tmp_path, capsys):
    assert main(["paper", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert all(name in err.splitlines()[0] for name in PAPER_DATASETS)
    assert main(["smoke", str(tmp_path / "nonexistent")]) == 0
    assert "reads nothing from the data root" in capsys.readouterr().out


def test_a_notebook_at_the_paper_preset_fails_in_start(tmp_path, monkeypatch):
    """notebook.start (each notebook's first cell) runs the preflight: nothing
    is trained, recorded or written before the error."""
    from lib import notebook

    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(MissingDatasetsError) as failure:
        notebook.start("ood", "paper", data_root=str(root), device="cpu")
    assert PAPER_DATASETS <= missing_of(failure.value)
    assert files_under(tmp_path) == [root]


def test_smoke_data_is_never_written_into_the_data_root(tmp_path, monkeypatch):
    """Every training and tracked set of every smoke section, built from a data
    root that does not exist: generated caches go to $CACHE_DIR."""
    from lib.sections import get_section, section_names
    from lib.sections.base import is_config

    root, cache = tmp_path / "nonexistent", tmp_path / "cache"
    monkeypatch.setenv("CACHE_DIR", str(cache))
    for name in section_names():
        for config in filter(is_config, get_section(name).planned("smoke")):
            config.data.build(root)
            if config.track is not None:
                config.track.build(root)
    assert not root.exists()
    assert list((cache / "fractal").glob("*.npz")), "the fractal source was not cached"


@pytest.mark.slow
def test_a_smoke_section_run_writes_nothing_under_the_data_root(tmp_path, monkeypatch):
    """The pretraining section at smoke, trained afresh (its own run cache, ~10 s)."""
    from lib import notebook

    root, cache = tmp_path / "nonexistent", tmp_path / "cache"
    for variable, folder in (("CACHE_DIR", cache), ("RUNS_DIR", tmp_path / "runs"),
                             ("RESULTS_DIR", tmp_path / "results")):
        monkeypatch.setenv(variable, str(folder))
    session = notebook.start("pretraining", "smoke", data_root=str(root), device="cpu")
    session.verbose = False
    assert len(session.run())
    assert not root.exists()
    assert list((cache / "fractal").glob("*.npz")), "the fractal source was not cached"


# -- make and the stdlib-only check (before the venv exists) -----------------------------------

STDLIB_ONLY = ("import sys, runpy\n"
               "for m in ('numpy', 'torch', 'pandas'): sys.modules[m] = None\n"
               "sys.argv = ['lib.presets', *sys.argv[1:]]\n"
               "runpy.run_module('lib.presets', run_name='__main__')\n")


@pytest.mark.parametrize("args,message", [
    (["quick", "--device", "gpu"],
     "device='gpu' is not valid; choose one of: 'auto', 'cpu', 'cuda'"),
    (["quick", "--data-root", ""], "data_root='' (DATA_ROOT) is empty"),
    (["huge", "--device", "cpu"], "preset='huge' is not valid"),
])
def test_the_check_command_needs_only_the_standard_library(args, message):
    result = subprocess.run([sys.executable, "-c", STDLIB_ONLY, "check", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    ok = subprocess.run([sys.executable, "-c", STDLIB_ONLY, "check", "paper", "--device",
                         "cuda:1", "--data-root", "/data"], cwd=REPO, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_the_devices_match_lib_devices():
    from lib.devices import DEVICE_CHOICES as resolved

    assert DEVICE_CHOICES == resolved


@pytest.mark.parametrize("variable,message", [
    ("DEVICE=gpu", "device='gpu' is not valid; choose one of: 'auto', 'cpu', 'cuda'"),
    ("DATA_ROOT=", "data_root='' (DATA_ROOT) is empty"),
])
def test_make_rejects_a_bad_device_or_empty_data_root_before_the_install(tmp_path, variable,
                                                                        message):
    venv = tmp_path / "venv"
    start = time.monotonic()
    result = subprocess.run(["make", "-s", "book", variable, f"VENV={venv}"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and time.monotonic() - start < 20
    assert message in result.stderr
    assert not venv.exists(), "the install started before the check"
    said = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert len(said) == 1 and said[0].startswith(f"error: {message}"), result.stderr


def test_make_book_at_the_paper_preset_names_every_missing_dataset_in_seconds(tmp_path):
    if subprocess.run(["make", "-q", "venv"], cwd=REPO).returncode != 0:
        pytest.skip("the venv is not installed and up to date")
    start = time.monotonic()
    result = subprocess.run(["make", "-s", "book", "PRESET=paper", f"DATA_ROOT={tmp_path}",
                             f"EXECUTED={tmp_path / 'executed'}"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and time.monotonic() - start < 30
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and all(name in first for name in PAPER_DATASETS)
    assert "Traceback" not in result.stderr and "==" not in result.stdout  # no notebook ran
    assert files_under(tmp_path) == []
