"""Data-parallel pre-training (issue 16, item 5): ``torchrun
--nproc-per-node=2 -m lib.pretrain --preset smoke`` on the CPU with gloo.
The world size enters the run key, rank 0 alone writes, and a run killed
after an epoch resumes to the same weights as one never interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lib.experiments import finetune_run, source_run
from lib.presets import get_preset, get_run_preset
from lib.training import train_or_load
from lib.training.checkpoints import load_verified

REPO = Path(__file__).resolve().parents[1]


def torchrun(runs: Path, *extra) -> subprocess.Popen:
    if shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("torchrun is not installed next to this Python")
    command = [str(Path(sys.executable).parent / "torchrun"), "--nproc-per-node=2",
               "--standalone", "-m", "lib.pretrain", "--preset", "smoke", "--no-ship",
               "--device", "cpu", *extra]
    env = {**os.environ, "RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (torchrun starts its workers in their own sessions)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def only_run(runs: Path) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    return folder


def test_two_process_pretraining_writes_once_under_its_own_key_and_resumes(tmp_path):
    single = source_run(get_preset("smoke"))
    whole = torchrun(tmp_path / "whole")
    out = whole.communicate(timeout=300)[0]
    assert whole.returncode == 0, out
    folder = only_run(tmp_path / "whole")
    assert folder.name != single.key()  # world size and per-rank batch are in the key
    parallel = get_run_preset("smoke", source_world_size=2)
    assert folder.name == source_run(parallel).key()  # ... the source's own world_size
    # a fine-tune in one process (SOURCE_WORLD_SIZE=2) finds its data-parallel parent
    child = finetune_run(parallel)
    assert child.init.key() == folder.name
    tuned = train_or_load(child, device="cpu", runs_dir=tmp_path / "whole", verbose=False)
    assert tuned.history and (tmp_path / "whole" / child.key() / "model.pt").exists()
    manifest = json.loads((folder / "model.pt.json").read_text())
    assert manifest["key"] == folder.name and manifest["world_size"] == 2
    log = (folder / "train.log").read_text().splitlines()  # rank 0 alone writes
    epochs = single.recipe.epochs
    assert [line.split(" epoch ")[1].split()[0] for line in log] == \
        [f"{e}/{epochs}" for e in range(1, epochs + 1)]
    assert out.count("pre-training ") == 1

    runs = tmp_path / "killed"
    killed = torchrun(runs)
    deadline = time.monotonic() + 240
    while not list(runs.glob("*/state.pt.json")):
        assert killed.poll() is None and time.monotonic() < deadline, killed.stdout.read()
        time.sleep(0.05)
    for pid in [killed.pid, *descendants(killed.pid)]:  # a killed node: every rank at once
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed.wait()
    assert not list(runs.glob("*/model.pt"))
    resumed = torchrun(runs, "--reuse-cache")  # without it, lib.pretrain retrains from scratch
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out
    folder = only_run(runs)
    assert "resuming after epoch" in (folder / "train.log").read_text()
    a = load_verified(folder / "model.pt", folder.name)
    b = load_verified(folder.parent.parent / "whole" / folder.name / "model.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_data_parallel_run_trains_only_in_a_group_of_its_size(tmp_path):
    source = source_run(get_run_preset("smoke", source_world_size=2))
    assert source.to_dict()["world_size"] == 2 and "world_size" not in \
        source_run(get_preset("smoke")).to_dict()
    with pytest.raises(RuntimeError, match="world_size=2.*torchrun --nproc-per-node=2"):
        train_or_load(source, device="cpu", runs_dir=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="SOURCE_WORLD_SIZE"):
        get_run_preset("smoke", source_world_size=0)


def test_make_and_the_notebooks_take_the_source_world_size():
    from lib.execution import parse_parameters

    assert parse_parameters(["-i", "source_world_size", "4"]) == {"source_world_size": 4}
    with pytest.raises(ValueError, match="source_world_size='two' is not an integer"):
        parse_parameters(["-i", "source_world_size", "two"])
    out = subprocess.run(["make", "-s", "check-preset", "PRESET=paper", "SOURCE_WORLD_SIZE=0"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "source_world_size='0' (SOURCE_WORLD_SIZE)" in out.stderr
    out = subprocess.run(["make", "-s", "check-preset", "PRESET=paper", "SOURCE=official",
                          "SOURCE_WORLD_SIZE=8"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "released networks are imported" in out.stderr
    for notebook in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert "source_world_size = 1" in notebook.read_text(), notebook.name
