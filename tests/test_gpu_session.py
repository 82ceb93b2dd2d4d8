"""``benchmarks/gpu_session.sh`` (issue 23, item 5) without a GPU: it exits at
once, says so and records nothing; ``--dry-plan`` lists its steps and time
limits, which fit the 8-minute budget, install included."""

from __future__ import annotations

import os
import re
import subprocess
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


def run(*args, path: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env["PATH"] = path
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
    assert "PRESET=paper DRY_RUN=1" in commands["dry_run_paper_cuda"]
    assert "DEVICE=cuda" in commands["dry_run_paper_cuda"]
    assert results_snapshot() == before


def test_every_option_a_step_passes_exists_in_its_script():
    out, _ = run("--dry-plan", path=path_without_nvidia_smi())
    for row in out.stdout.strip().splitlines()[:-1]:
        for script, options in re.findall(r"(benchmarks/\w+\.py)((?: --?[\w-]+(?: [^-\s&|;>]\S*)*)*)",
                                          row):
            source = (REPO / script).read_text()
            for option in re.findall(r"--[\w-]+", options):
                assert f'"{option}"' in source, f"{script} has no option {option}"
