"""The sweep against a real one-node Slurm (issue 16, item 6): submitted
through submitit's Slurm executor, one job cancelled mid-run (``scancel``),
the sweep run again; then every run is in the cache once, no finished epoch
was trained twice, and the weights equal a sequential smoke run's. A job
requeued mid-run (``scontrol requeue``, as a preemption) resumes from its
last epoch within the same sweep.

The cluster comes from ``tests/slurm/start_cluster.sh`` (root, Debian's
``slurm-wlm`` and ``munge``). Where it cannot start, the test is skipped and
says why. ``$SWEEP_SLURM_SECTIONS`` (default ``pretraining``: three runs, a
parent and its fine-tune) chooses the sections; ``all`` is the whole smoke
sweep (about 30 runs: minutes on a 2-core machine)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lib.sections import section_names
from lib.sweep.plan import build_plan
from lib.training import train_or_load
from lib.training.checkpoints import load_verified

REPO = Path(__file__).resolve().parents[1]
START = REPO / "tests" / "slurm" / "start_cluster.sh"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """SLURM_CONF of a running one-node cluster (started here if need be)."""
    if os.geteuid() != 0:
        pytest.skip("Slurm test: starting munged and slurmd needs root")
    missing = [t for t in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel",
                           "scontrol")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"Slurm test: {', '.join(missing)} not installed "
                    "(apt-get install -y slurm-wlm munge)")
    env = {**os.environ, "SLURM_TEST_DIR": os.environ.get("SLURM_TEST_DIR", "/tmp/slurm-test")}
    was_up = subprocess.run(["bash", str(START), "status"], capture_output=True, text=True,
                            env=env, timeout=60).stdout.strip() != ""
    started = subprocess.run(["bash", str(START), "start"], capture_output=True, text=True,
                             env=env, timeout=120)
    found = re.search(r"^SLURM_CONF=(.+)$", started.stdout, re.M)
    if started.returncode != 0 or not found:
        pytest.skip(f"Slurm test: the cluster did not start (exit {started.returncode}): "
                    f"{(started.stderr or started.stdout).strip()[-500:]}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = found.group(1)
    yield found.group(1)
    # srun processes of this module's jobs that outlived them (a requeued job's first srun)
    subprocess.run(["pkill", "-f", f"submitit.core._submit {tmp_path_factory.getbasetemp()}"])
    if not was_up:  # leave a machine as it was found
        subprocess.run(["bash", str(START), "stop"], env=env, timeout=60)
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


def _sections() -> list[str]:
    chosen = os.environ.get("SWEEP_SLURM_SECTIONS", "pretraining")
    return section_names() if chosen == "all" else chosen.split(",")


def _sweep(runs: Path, sections, threads: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "lib.sweep", "run", "--preset", "smoke", "--executor",
               "slurm", "--sections", *sections, "--runs-dir", str(runs), "--device", "cpu",
               "--cpus", "1", "--threads", str(threads), "--time-min", "30", "--poll-s", "1"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _pid_of(lock: Path) -> int | None:
    import json

    try:
        return int(json.loads(lock.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _kill_task(pid: int) -> None:
    """SIGKILL the job's training process, as Slurm's ``KillWait`` would.

    On this one-node cluster (proctrack/linuxproc, task/none) Slurm cancels the
    step but does not kill its task: submitit only logs the SIGTERM, and in
    ``slurmd.log`` a cancelled task was seen exiting on its own seconds later,
    after it had finished the run. The test delivers the kill itself."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _job_of(lock: Path) -> str | None:
    """The Slurm job id of the process holding ``lock`` (from its environment)."""
    pid = _pid_of(lock)
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, TypeError):
        return None
    values = {k.decode(): v.decode() for k, v in
              (item.split(b"=", 1) for item in environ if b"=" in item)}
    if "SLURM_ARRAY_JOB_ID" in values:  # an array task: scancel takes <array>_<task>
        return f"{values['SLURM_ARRAY_JOB_ID']}_{values['SLURM_ARRAY_TASK_ID']}"
    return values.get("SLURM_JOB_ID")


def _epoch_lines(log: Path) -> list[str]:
    return re.findall(r" epoch (\d+/\d+) ", log.read_text())


def _same_run(a: Path, b: Path) -> bool:
    x, y = load_verified(a), load_verified(b)
    keep = ("epoch", "loss", "accuracy", "lr", "test_error")
    return (x["model"].keys() == y["model"].keys()
            and all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])
            and [{k: r.get(k) for k in keep} for r in x["history"]]
            == [{k: r.get(k) for k in keep} for r in y["history"]])


def _wait_for_epoch(alive, report, runs: Path, key: str) -> tuple[str, int]:
    """(Slurm job id, pid) of the process training run ``key``, once it has
    finished an epoch; fails with ``report()`` if ``alive()`` turns false."""
    lock, state = runs / key / ".lock", runs / key / "state.pt.json"
    deadline = time.monotonic() + 600
    while True:
        assert alive(), report()
        assert time.monotonic() < deadline, "the run's job never finished an epoch"
        if state.exists() and (job := _job_of(lock)) is not None:
            return job, _pid_of(lock)
        time.sleep(0.2)


def test_smoke_sweep_on_slurm_survives_a_cancelled_job(slurm_cluster, smoke_runs_dir, tmp_path):
    sections = _sections()
    plan = build_plan("smoke", sections)
    threads = torch.get_num_threads()  # the sequential reference's: bit-identical weights
    runs = tmp_path / "runs"
    victim = plan.runs[0]  # wave 0, a parent (the smoke source)
    assert any(r.parent == victim.key for r in plan.runs)

    first = _sweep(runs, sections, threads)
    state = runs / victim.key / "state.pt.json"
    # wait until the victim has finished an epoch, then cancel its job
    job, pid = _wait_for_epoch(lambda: first.poll() is None, first.stdout.read, runs, victim.key)
    cancelled = subprocess.run(["scancel", "--verbose", job], capture_output=True, text=True)
    assert cancelled.returncode == 0 and "error" not in cancelled.stderr.lower(), cancelled
    _kill_task(pid)
    out_first = first.communicate(timeout=900)[0]
    assert first.returncode == 1, out_first  # the cancelled run is reported as failed…
    assert f"FAILED {victim.label}" in out_first and "log: " in out_first
    assert not (runs / victim.key / "model.pt").exists() and state.exists()  # …its epochs kept

    second = _sweep(runs, sections, threads)
    out_second = second.communicate(timeout=900)[0]
    assert second.returncode == 0, out_second

    for run in plan.runs:  # every run once, no finished epoch trained twice
        folder = runs / run.key
        assert (folder / "model.pt").exists(), run.label
        lines = _epoch_lines(folder / "train.log")
        assert len(lines) == len(set(lines)) == run.config.recipe.epochs, (run.label, lines)
    assert "resuming after epoch" in (runs / victim.key / "train.log").read_text()
    assert sorted(p.name for p in runs.iterdir() if (p / "model.pt").exists()) == \
        sorted(r.key for r in plan.runs)
    assert "FAILED" not in out_second  # resolve steps (deferred runs) included

    for run in plan.runs:  # equal to a sequential smoke run (the shared smoke cache)
        reference = train_or_load(run.config, runs_dir=smoke_runs_dir, device="cpu",
                                  verbose=False)
        assert _same_run(runs / run.key / "model.pt", reference.path), run.label


# The requeued run: the smoke source trained for this many epochs, so that it is
# surely mid-run when it is killed (with the smoke preset's 4 epochs the run could end
# before the kill came, and Slurm then requeued a finished job).
REQUEUED_EPOCHS = 24


def test_a_requeued_job_resumes_from_its_last_epoch(slurm_cluster, tmp_path):
    """A preempted job (``scontrol requeue``: Slurm kills it and queues it
    again) runs again and resumes from its last epoch; the same sweep
    follows it to the end and finishes without a failure."""
    import threading
    from dataclasses import replace

    from lib.sweep.executor import SlurmOptions, SweepRunner
    from lib.sweep.plan import Plan, PlannedRun
    from lib.sweep.worker import WorkerSettings

    smoke = build_plan("smoke", ["pretraining"])
    source = smoke.runs[0].config
    config = replace(source, recipe=replace(source.recipe, epochs=REQUEUED_EPOCHS))
    victim = PlannedRun(config.key(), config, ("pretraining",), 0)
    runs, printed = tmp_path / "runs", []
    runner = SweepRunner(Plan(smoke.preset, (victim,), ()), "slurm",
                         WorkerSettings(str(runs), None, "cpu", 1), runs / "sweep",
                         slurm=SlurmOptions(cpus=1, time_min=30), poll_s=1,
                         echo=printed.append)
    counts = {}
    follower = threading.Thread(target=lambda: counts.update(runner.run()), daemon=True)
    follower.start()
    job, pid = _wait_for_epoch(follower.is_alive, lambda: printed, runs, victim.key)
    requeued = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    assert requeued.returncode == 0, requeued
    _kill_task(pid)
    follower.join(timeout=900)
    assert not follower.is_alive(), printed
    assert counts["done"] == 1 and counts["failed"] == 0, printed
    assert not any("FAILED" in line for line in printed), printed
    log = (runs / victim.key / "train.log").read_text()
    assert "resuming after epoch" in log, log
    lines = _epoch_lines(runs / victim.key / "train.log")
    assert len(lines) == len(set(lines)) == REQUEUED_EPOCHS, lines
    assert (runs / victim.key / "model.pt").exists()
