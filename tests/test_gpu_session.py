"""``benchmarks/gpu_session.sh`` (issue 23, item 5) without a GPU: it exits at
once, says so and records nothing; an interpreter that cannot import torch is a
broken install, recorded and failed, not "no GPU"; ``--dry-plan`` lists its
steps and time limits, which fit the 8-minute budget, install (the carried
wheels) included, and leave the paper dry run at least 3 minutes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_session.sh"
RESULTS = REPO / "benchmarks" / "results"
BUDGET_S = 480
STEPS = ["install", "miniature_roots", "cuda_path_check", "cuda_path_check_compile",
         "train_throughput_wrn-40-2", "train_throughput_wrn-28-10", "sweep_throughput",
         "sweep_plan_paper", "runs_per_gpu", "dry_run_paper_cuda"]


def results_snapshot() -> dict:
    return {str(p.relative_to(RESULTS)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in RESULTS.rglob("*") if p.is_file()}


def path_without_nvidia_smi() -> str:
    """$PATH less every folder holding an ``nvidia-smi``: no GPU, even on a GPU machine."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "nvidia-smi").exists())


def run(*args, path: str, **extra: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OUT", "PYTHONPATH") and not k.startswith("GPU_SESSION_")}
    env.update(extra, PATH=path)
    began = time.perf_counter()
    out = subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, env=env, text=True,
                         capture_output=True, timeout=120)
    return out, time.perf_counter() - began


def test_without_a_gpu_it_exits_at_once_and_records_nothing():
    before = results_snapshot()
    out, seconds = run(path=path_without_nvidia_smi())
    assert out.returncode == 0, out.stderr
    assert seconds < 5
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "no GPU" in lines[0], out.stdout
    assert results_snapshot() == before


def test_a_gpu_torch_cannot_use_is_no_gpu(tmp_path):
    """nvidia-smi lists a GPU, but torch.cuda.is_available() is false."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU: the session would run")
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: the script would install first")
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)'\n")
    fake.chmod(0o755)
    before = results_snapshot()
    out, seconds = run(path=f"{tmp_path}{os.pathsep}{path_without_nvidia_smi()}")
    assert out.returncode == 0, out.stderr
    assert seconds < 60  # one torch import
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "no GPU" in lines[0], out.stdout
    assert results_snapshot() == before


def fake_gpu(tmp_path: Path) -> str:
    """$PATH with an ``nvidia-smi`` that lists one H100 (and names it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text('#!/bin/sh\nif [ "$1" = -L ]; then echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"'
                    '; else echo "NVIDIA H100 80GB HBM3"; fi\n')
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{path_without_nvidia_smi()}"


def fake_torch(tmp_path: Path, source: str) -> str:
    """A folder holding a package ``torch`` whose ``__init__`` is ``source``."""
    (tmp_path / "fake" / "torch").mkdir(parents=True)
    (tmp_path / "fake" / "torch" / "__init__.py").write_text(source)
    return str(tmp_path / "fake")


def test_torch_without_cuda_is_no_gpu_and_records_nothing(tmp_path):
    """A stand-in torch that imports and sees no CUDA device: exit 0, nothing recorded."""
    results, out_dir = tmp_path / "results", tmp_path / "out"
    out_dir.mkdir()
    before = results_snapshot()
    out, seconds = run(path=fake_gpu(tmp_path), OUT=str(out_dir), GPU_SESSION_PYTHON=sys.executable,
                       GPU_SESSION_RESULTS=str(results),
                       PYTHONPATH=fake_torch(tmp_path, "class cuda:\n    is_available = staticmethod("
                                                       "lambda: False)\n"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert seconds < 30
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and "no GPU usable" in lines[0], out.stdout
    assert not results.exists() and not any(out_dir.iterdir())
    assert results_snapshot() == before


@pytest.mark.parametrize("broken", ["import error", "no interpreter"])
def test_torch_that_cannot_be_imported_is_a_broken_install_recorded(tmp_path, broken):
    """Not "no GPU": exit 2, the step ``torch`` recorded as failed, the archive in $OUT."""
    results, out_dir = tmp_path / "results", tmp_path / "out"
    out_dir.mkdir()
    python = sys.executable if broken == "import error" else str(tmp_path / "no-such-python")
    before = results_snapshot()
    out, seconds = run(path=fake_gpu(tmp_path), OUT=str(out_dir), GPU_SESSION_PYTHON=python,
                       GPU_SESSION_RESULTS=str(results), GPU_SESSION_COMMIT="abc123",
                       PYTHONPATH=fake_torch(tmp_path, "raise ImportError('libcudart.so.13: "
                                                       "cannot open shared object file')\n"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert seconds < 30
    assert "cannot import torch" in out.stdout and "no GPU" not in out.stdout, out.stdout
    record = json.loads((results / "gpu_session.json").read_text())
    assert record["commit"] == "abc123" and record["gpu"] == "NVIDIA H100 80GB HBM3"
    [step] = record["steps"]
    assert step["step"] == "torch" and step["status"].startswith("failed"), step
    log = (results / "gpu_session" / "torch.log").read_text()
    assert ("libcudart.so.13" in log) if broken == "import error" else log
    # what comes back from the device: one archive and the summary beside it
    assert sorted(p.name for p in out_dir.iterdir()) == ["gpu_session.json", "gpu_session.tgz"]
    with tarfile.open(out_dir / "gpu_session.tgz") as archive:
        assert sorted(archive.getnames()) == ["gpu_session.json", "gpu_session/torch.log"]
    assert json.loads((out_dir / "gpu_session.json").read_text()) == record
    assert results_snapshot() == before


def test_dry_plan_lists_every_step_within_the_budget():
    before = results_snapshot()
    out, seconds = run("--dry-plan", path=path_without_nvidia_smi())
    assert out.returncode == 0, out.stderr
    assert seconds < 5
    *rows, total = out.stdout.strip().splitlines()
    steps = [re.match(r"(\S+)\s+(\d+|rest) s  (.*)$", row).groups() for row in rows]
    assert [name for name, _, _ in steps] == STEPS
    limits = {name: limit for name, limit, _ in steps}
    assert limits.pop("dry_run_paper_cuda") == "rest"  # the last step gets what is left
    fixed = sum(int(v) for v in limits.values())
    reserve = int(re.search(r"summary (\d+) s", total).group(1))
    assert fixed + reserve < BUDGET_S
    assert f"budget {BUDGET_S} s" in total
    assert int(re.search(r"at least (-?\d+) s", total).group(1)) == BUDGET_S - reserve - fixed
    commands = {name: command for name, _, command in steps}
    assert "--compile" in commands["cuda_path_check_compile"]
    assert "--architecture wrn-28-10" in commands["train_throughput_wrn-28-10"]
    runs = commands["runs_per_gpu"]
    layouts = re.search(r"--layouts ((?:\d+x\d+ ?)+)", runs).group(1).split()
    assert [int(layout.split("x")[0]) for layout in layouts] == [1, 2, 4, 8]
    assert "--architecture wrn-40-2" in runs and "--batch 128" in runs
    dry_run = commands["dry_run_paper_cuda"]
    assert "lib.weights dry-run-fixtures" in dry_run and "lib.execution" in dry_run
    for parameter in ("-p preset paper", "-b dry_run 1", "-p device cuda", "-p source trained",
                      "-i source_world_size 1", "-p cpu_precision float32"):
        assert parameter in dry_run, parameter  # what the Makefile's notebooks target passes
    assert results_snapshot() == before


def test_dry_plan_installs_the_carried_wheels_and_leaves_the_dry_run_three_minutes():
    out, _ = run("--dry-plan", path=path_without_nvidia_smi())
    assert out.returncode == 0, out.stderr
    *rows, total = out.stdout.strip().splitlines()
    install = next(row for row in rows if row.startswith("install "))
    assert "pip install" in install and ".whl/*.whl" in install
    for option in ("--no-index", "--no-deps", "--target"):
        assert option in install, option
    assert "ipykernel install" in install  # the notebooks' kernel "python3"
    assert "make venv" not in out.stdout
    assert int(re.search(r"at least (-?\d+) s", total).group(1)) >= 180


def test_every_option_a_step_passes_exists_in_its_script():
    out, _ = run("--dry-plan", path=path_without_nvidia_smi())
    for row in out.stdout.strip().splitlines()[:-1]:
        for script, options in re.findall(r"(benchmarks/\w+\.py)((?: --?[\w-]+(?: [^-\s&|;>]\S*)*)*)",
                                          row):
            source = (REPO / script).read_text()
            for option in re.findall(r"--[\w-]+", options):
                assert f'"{option}"' in source, f"{script} has no option {option}"
