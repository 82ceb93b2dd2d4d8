"""Files that would run code are refused before they run, and storage errors
say where (issue 28), each as a user meets it: a code-running pickle as a
run's model.pt, a tampered CIFAR or ImageNet batch, an .npz with object
arrays, a full disk, a read-only or shared run cache, Ctrl-C and kill -9 of
a notebook build, the page's parameters, the result store's words."""

import builtins
import errno
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

import lib.results as results
import lib.training.run_cache as run_cache
from lib.data import get_dataset
from lib.data.errors import DataFileError, UnsafeDataFileError
from lib.data.miniature import write_cifar10, write_cifar100, write_imagenet
from lib.data.safe_pickle import read_data_pickle
from lib.execution import execute
from lib.presets import DataSpec, Recipe
from lib.storage import StorageError
from lib.training import RunConfig, TrainingDataSpec, train_or_load
from lib.training.checkpoints import UnsafeCheckpointError, save_verified_bytes
from lib.training.locks import RunLock
from notebook_files import tiny_notebook

REPO = Path(__file__).resolve().parents[1]


class RunsCode:
    """Unpickled, it creates ``marker``: the proof that a file's code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The run cache, result store and dataset cache of a user, by their settings."""
    for name, folder in (("RUNS_DIR", "runs"), ("RESULTS_DIR", "results"),
                         ("CACHE_DIR", "cache")):
        monkeypatch.setenv(name, str(tmp_path / folder))
    return tmp_path


def tiny_config():
    data = DataSpec.of("fractal", num_classes=4, per_class=8, size=16, channels=1, seed=3)
    return RunConfig(architecture="wrn-10-1", in_channels=1, data=TrainingDataSpec(data),
                     recipe=Recipe(epochs=1, lr=0.05, batch_size=16), seed=1,
                     label="tiny demo run")


def full_story(error: BaseException) -> str:
    """Everything a user's traceback shows: the error and every chained one."""
    return "".join(traceback.format_exception(error))


# -- 1. a checkpoint that would run code ----------------------------------------------------

@pytest.mark.parametrize("name", ["model.pt", "state.pt"])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_code_running_checkpoint_is_refused_naming_the_file(env, monkeypatch, name, writer):
    """A pickle that would create a file, placed as a run's model.pt (or its
    resume state) with a matching manifest: the project's error names the
    file, says why and how to recover, never suggests weights_only=False; the
    file's code did not run and the file is left for the user to look at."""
    marker = env / "the_code_ran"
    payload = {"model": RunsCode(marker), "history": []}
    if writer == "pickle":
        data = pickle.dumps(payload, protocol=2)
    else:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
    config = tiny_config()
    path = env / "runs" / config.key() / name
    save_verified_bytes(path, data, config.key())
    if name == "model.pt":
        monkeypatch.setattr(run_cache, "_train", lambda *a, **k: pytest.fail("retrained"))
    with pytest.raises(UnsafeCheckpointError) as caught:
        train_or_load(config, device="cpu", verbose=False)
    said = str(caught.value)
    assert str(path) in said and "not a plain weights file" in said
    assert "builtins.open" in said or "io.open" in said  # what it asked for
    assert "Nothing of it was run" in said
    assert f"delete the run's folder ({path.parent})" in said and "force=True" in said
    assert "weights_only" not in full_story(caught.value)
    assert not marker.exists() and path.exists()


def test_a_code_running_shipped_checkpoint_says_how_to_restore_it(env, monkeypatch):
    """In lib/checkpoints/ the remedy is git, never deleting that folder."""
    marker = env / "the_code_ran"
    config = tiny_config()
    shipped = env / "checkpoints"
    save_verified_bytes(shipped / f"{config.key()}.pt",
                        pickle.dumps({"model": RunsCode(marker)}, protocol=2), config.key())
    monkeypatch.setattr(run_cache, "SHIPPED_DIR", shipped)
    with pytest.raises(run_cache.DamagedShippedCheckpointError) as caught:
        train_or_load(config, device="cpu", verbose=False)
    said = str(caught.value)
    assert "not a plain weights file" in said and "git checkout" in said
    assert "delete the run's folder" not in said and not marker.exists()


def test_force_retrains_over_a_code_running_checkpoint(env):
    """The recovery the message names works: force=True retrains the run."""
    marker = env / "the_code_ran"
    config = tiny_config()
    path = env / "runs" / config.key() / "model.pt"
    save_verified_bytes(path, pickle.dumps({"model": RunsCode(marker)}, protocol=2),
                        config.key())
    with pytest.raises(UnsafeCheckpointError):
        train_or_load(config, device="cpu", verbose=False)
    run = train_or_load(config, device="cpu", verbose=False, force=True)
    assert not run.from_cache and not marker.exists()
    assert train_or_load(config, device="cpu", verbose=False).from_cache


# -- 2. pickled dataset files cannot run code -----------------------------------------------

def tamper(path: Path, marker: Path) -> None:
    """Replace a pickled batch by one that would create ``marker`` (its dict
    and keys kept, so only unpickling could tell)."""
    batch = pickle.loads(path.read_bytes(), encoding="latin1")
    batch["data"] = RunsCode(marker)
    path.write_bytes(pickle.dumps(batch, protocol=2))


@pytest.mark.parametrize("dataset, file", [
    ("cifar10", "cifar-10-batches-py/data_batch_1"),
    ("cifar100", "cifar-100-python/train"),
    ("imagenet32", "Imagenet32_train/train_data_batch_1"),
])
def test_a_tampered_pickled_batch_is_refused_and_its_code_does_not_run(tmp_path, monkeypatch,
                                                                       dataset, file):
    root = tmp_path / "data"
    write_cifar10(root, np.arange(20) % 10, np.arange(10) % 10)
    write_cifar100(root, np.arange(100), np.arange(100))
    write_imagenet(root, 32, np.arange(1, 41), np.arange(1, 11), fmt="pickle")
    assert len(get_dataset(dataset, "train", root=root).labels) > 0  # the miniature loads
    marker = tmp_path / "the_code_ran"
    tamper(root / file, marker)
    monkeypatch.setenv("DATA_ROOT", str(root))
    with pytest.raises(UnsafeDataFileError) as caught:
        get_dataset(dataset, "train")
    said = str(caught.value)
    assert str(root / file) in said and f"DATA_ROOT={root}" in said
    assert "io.open" in said or "builtins.open" in said
    assert "nothing of it was run" in said and "published file" in said
    assert not marker.exists()


def test_a_damaged_pickled_batch_is_named(tmp_path):
    root = tmp_path / "data"
    write_cifar10(root, np.arange(20) % 10, np.arange(10) % 10)
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DataFileError, match=f"{batch} is damaged"):
        get_dataset("cifar10", "train", root=root)


@pytest.mark.parametrize("protocol", [2, 5])
def test_the_restricted_unpickler_reads_what_these_formats_hold(tmp_path, protocol):
    """Arrays, numpy scalars, bytes, str, lists and numbers, in the pickles of
    numpy 2 and (by the names they use) of the original numpy-1 archives."""
    batch = {"data": np.arange(12, dtype=np.uint8).reshape(2, 6), "mean": np.ones(3),
             "labels": [1, 2], "filenames": ["a.png", "b.png"], "batch_label": b"batch 1",
             "n": np.int64(2), "scale": 0.5}
    path = tmp_path / "batch"
    data = pickle.dumps(batch, protocol=protocol)
    path.write_bytes(data)
    renamed = [data.replace(b"numpy._core", b"numpy.core")] if protocol == 2 else []
    for written in [data, *renamed]:  # protocol 2 names globals as text: renamed in place
        path.write_bytes(written)
        read = read_data_pickle(path)
        assert np.array_equal(read["data"], batch["data"]) and read["data"].dtype == np.uint8
        assert read["labels"] == [1, 2] and read["batch_label"] == b"batch 1"
        assert read["n"] == 2 and read["scale"] == 0.5 and np.array_equal(read["mean"],
                                                                          np.ones(3))


# -- 3. storage errors that say where -------------------------------------------------------

def test_an_npz_with_object_arrays_is_named(tmp_path, monkeypatch):
    """One of the eleven Downsampled ImageNet npz files holds object arrays
    (pickles): the error names that file and its setting; nothing of it runs."""
    root = tmp_path / "data"
    write_imagenet(root, 32, np.arange(1, 41), np.arange(1, 11), fmt="npz")
    bad = root / "Imagenet32_train_npz" / "train_data_batch_3.npz"
    marker = tmp_path / "the_code_ran"
    np.savez(bad, data=np.array([RunsCode(marker)] * 4, dtype=object), labels=np.arange(4))
    monkeypatch.setenv("DATA_ROOT", str(root))
    with pytest.raises(UnsafeDataFileError) as caught:
        get_dataset("imagenet32", "train")
    said = str(caught.value)
    assert str(bad) in said and f"DATA_ROOT={root}" in said
    assert "'data' is an object array" in said and "image-net.org" in said
    assert not marker.exists()


def test_a_damaged_npz_is_called_damaged_not_a_pickle(tmp_path):
    """An npz that is neither a zip nor a pickle (a truncated download, an HTML
    error page) is damaged, not dangerous; a lone .npy array is named as such;
    a real pickle under an .npz name is refused as one."""
    from lib.data.npz import read_npz

    page = tmp_path / "page.npz"
    page.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(DataFileError, match="damaged: neither an .npz archive") as caught:
        read_npz(page, ["data"])
    assert not isinstance(caught.value, UnsafeDataFileError) and str(page) in str(caught.value)
    lone = tmp_path / "lone.npz"
    with open(lone, "wb") as handle:
        np.save(handle, np.arange(3))
    with pytest.raises(DataFileError, match="single .npy array"):
        read_npz(lone, ["data"])
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"data": [1, 2]}, protocol=2))
    with pytest.raises(UnsafeDataFileError, match="not an .npz archive but a pickle"):
        read_npz(pickled, ["data"])


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def no_space_for(name: str):
    """``os.fsync`` of a disk that is full when a file whose name contains
    ``name`` is written (every other file fits)."""
    fsync = os.fsync

    def full(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            no_space()
        return fsync(fd)

    return full


def test_a_full_disk_under_the_result_store_names_the_file_and_results_dir(env, monkeypatch):
    rows = [dict(section="s", dataset="d", method="none", arm="scratch", seed=0,
                 metric="test_error", value=10.0, unit="%", build="a")]
    results.record_results(rows, "smoke")
    store = env / "results" / "smoke.csv"
    before = store.read_bytes()
    monkeypatch.setattr(os, "fsync", no_space)  # the disk fills as the new store is written
    with pytest.raises(StorageError) as caught:
        results.record_results([{**rows[0], "value": 11.0, "build": "b"}], "smoke")
    said = str(caught.value)
    assert f"cannot write {store}" in said and f"RESULTS_DIR={env / 'results'}" in said
    assert "no space left" in said and "Free space" in said and "set RESULTS_DIR" in said
    assert caught.value.errno == errno.ENOSPC
    assert store.read_bytes() == before  # the old store is whole
    assert sorted(p.name for p in store.parent.iterdir()) == ["smoke.csv", "smoke.csv.lock"]


def test_a_full_disk_under_the_run_cache_names_the_checkpoint_and_runs_dir(env, monkeypatch):
    """The disk fills as the trained model is saved."""
    config = tiny_config()
    monkeypatch.setattr(os, "fsync", no_space_for("model.pt"))
    with pytest.raises(StorageError) as caught:
        train_or_load(config, device="cpu", verbose=False)
    said = str(caught.value)
    run_dir = env / "runs" / config.key()
    assert f"cannot write {run_dir / 'model.pt'}" in said and f"RUNS_DIR={env / 'runs'}" in said
    assert "no space left" in said and "set RUNS_DIR" in said
    assert not (run_dir / "model.pt").exists() and not (run_dir / ".lock").exists()


def read_only_under(folder: Path, monkeypatch) -> None:
    """``folder`` behaves as on a read-only file system (for root too)."""
    mkdir, open_ = Path.mkdir, os.open

    def refuse(path):
        if Path(path).is_relative_to(folder):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def checked_mkdir(self, *args, **kwargs):
        if not self.exists():
            refuse(self)
        return mkdir(self, *args, **kwargs)

    def checked_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return open_(path, flags, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", checked_mkdir)
    monkeypatch.setattr(os, "open", checked_open)


def test_a_read_only_cache_that_lacks_a_run_says_which_run(env, monkeypatch):
    config = tiny_config()
    (env / "runs").mkdir()
    read_only_under(env / "runs", monkeypatch)
    monkeypatch.setattr(run_cache, "_train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(StorageError) as caught:
        train_or_load(config, device="cpu", verbose=False)
    said = str(caught.value)
    assert (f"run tiny demo run ({config.key()}) is not in the run cache "
            f"(RUNS_DIR={env / 'runs'}), and it cannot be trained there: the file system is "
            f"read-only") in said
    assert "point RUNS_DIR at a cache that holds this run" in said
    assert caught.value.errno == errno.EROFS


def test_a_shared_cache_permission_error_names_umask_002(env, monkeypatch):
    """Another user's stale lock cannot be renamed away, another user's
    model.pt cannot be read: both say `umask 002` and the group setup."""
    lock = env / "runs" / "somekey" / ".lock"
    lock.parent.mkdir(parents=True)
    lock.write_text('{"host": "another-host", "pid": 1, "token": "theirs"}')
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    rename = os.rename

    def denied(source, target, *args, **kwargs):
        if Path(source) == lock:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(source))
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", denied)
    with pytest.raises(StorageError) as caught:
        RunLock(lock, stale_after_s=1).acquire(blocking=False)
    said = str(caught.value)
    assert f"cannot take over the stale lock {lock}" in said and "permission denied" in said
    assert "umask 002" in said and "chmod g+s" in said and f"RUNS_DIR={env / 'runs'}" in said

    config = tiny_config()
    model = env / "runs" / config.key() / "model.pt"
    save_verified_bytes(model, b"their weights", config.key())
    read_bytes = Path.read_bytes

    def unreadable(self):
        if self == model:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(StorageError) as caught:
        train_or_load(config, device="cpu", verbose=False)
    said = str(caught.value)
    assert f"cannot read {model}" in said and "umask 002" in said and model.exists()


# -- 4, 5. an interrupted build says where its notebook is; pages show no builder's path ----

@pytest.mark.slow
def test_the_page_holds_no_absolute_data_root(tmp_path, monkeypatch):
    """make book passes -p data_root "$(DATA_ROOT)": the kernel reads that
    folder, and the executed page does not show it."""
    monkeypatch.delenv("DATA_ROOT", raising=False)
    data_root = tmp_path / "builders_home" / "mydata"
    source = tiny_notebook(tmp_path / "00_demo.ipynb",
                           "from lib.data import default_root\n"
                           "assert data_root is None\nprint('reads', default_root().name)")
    final = execute(source, tmp_path / "executed",
                    {"preset": "smoke", "data_root": str(data_root)}, out=sys.stdout)
    cells = nbformat.read(str(final), as_version=4).cells
    page = json.dumps([[c.source, c.get("outputs", [])] for c in cells])
    assert "reads mydata" in page and str(tmp_path) not in page
    assert "DATA_ROOT" not in os.environ  # restored


@pytest.mark.slow
def test_ctrl_c_prints_one_line_naming_the_failed_folder(tmp_path):
    source = tiny_notebook(tmp_path / "00_demo.ipynb",
                           "from lib.training.progress import console\nconsole('demo epoch 1')\n"
                           "import time\ntime.sleep(60)")
    executed = tmp_path / "executed"
    process = subprocess.Popen(
        [sys.executable, "-m", "lib.execution", str(source), str(executed), "-p", "preset",
         "smoke"], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=REPO,
        # a terminal's Ctrl-C: a test run started in the background (nohup, CI) inherits an
        # ignored SIGINT, which Python would keep ignoring (the cause of the earlier failures)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = executed / "logs" / "00_demo.progress.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and "demo epoch" in log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.2)
    # What Ctrl-C in the terminal sends. Once, in CI under load, the first one did not end the
    # execution within 60 s (not reproduced since): a user presses it again, and so does this
    # test, every 20 s; the output must still be the one line.
    for _ in range(4):
        os.killpg(process.pid, signal.SIGINT)
        try:
            said, _ = process.communicate(timeout=20)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        process.kill()
        pytest.fail("four Ctrl-C did not end the execution in 80 s")
    assert process.returncode == 130
    assert [line for line in said.splitlines() if line != "demo epoch 1"] == [
        f"!! 00_demo.ipynb interrupted (Ctrl-C) (traceback in {executed}/logs/00_demo.error.log;"
        f" {executed}/00_demo.ipynb is not written; the interrupted execution is in "
        f"{executed}/.failed/00_demo.ipynb)"], said
    assert (executed / ".failed" / "00_demo.ipynb").exists()


@pytest.mark.slow
def test_a_killed_execution_is_named_in_partial(tmp_path):
    """The OOM killer takes the execution (here: its own cell, SIGKILL to its
    parent): make's loop says the half-run notebook is in .partial/."""
    executed = tmp_path / "executed"
    source = tiny_notebook(tmp_path / "00_demo.ipynb",
                           "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    result = subprocess.run(["make", "-s", "notebooks", "PRESET=smoke", f"EXECUTED={executed}",
                             f"NOTEBOOKS={source}"], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert (f"!! 00_demo.ipynb killed (signal 9): the half-run execution is in "
            f"{executed}/.partial/00_demo.ipynb" in said), said
    assert (executed / ".partial" / "00_demo.ipynb").exists()


def test_the_readme_names_both_folders_of_unfinished_executions():
    readme = (REPO / "README.md").read_text()
    assert "book/executed/.partial/" in readme and "book/executed/.failed/" in readme


# -- 6. what the result store keeps -----------------------------------------------------------

def test_the_result_store_keeps_the_latest_row_of_every_measurement(env):
    """As its docstring says: a later build's row replaces an earlier build's
    row for the same measurement; other measurements keep theirs."""
    base = dict(section="s", dataset="d", method="none", arm="scratch", seed=0,
                metric="test_error", unit="%")
    results.record_results([{**base, "value": 10.0, "build": "first"},
                            {**base, "seed": 1, "value": 12.0, "build": "first"}], "smoke")
    results.record_results([{**base, "value": 9.0, "build": "second"}], "smoke")
    stored = results.read_results("smoke").sort_values("seed")
    assert stored[["seed", "value", "build"]].values.tolist() == [[0, 9.0, "second"],
                                                                  [1, 12.0, "first"]]
    words = " ".join(results.__doc__.split())
    assert "keeps the history" not in words
    assert "A later build's row replaces an earlier build's row for the same measurement" \
        in words
