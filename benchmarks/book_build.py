"""The main job's budget (issue: the companion as a whole, item 2): time
``make book`` exactly as a newcomer runs it, in a fresh clone of HEAD with cold
caches (no venv, no run cache, no result store, no ``data_cache/`` — it is
git-ignored, so the fractal cache is cold too — and an empty ``DATA_ROOT``), then a second ``make book`` with nothing changed.

Budget: at most 40 min cold on any x86-64 CPU and 1 min for the second run at
the quick preset on 2 cores; the aim where recorded is 25 min cold. After the
builds it measures this machine's float32 engine rate (``train_throughput.py
--engines-only``, in the clone's venv), the scale a reader's machine is
compared by: the quick preset trains in float32 on the CPU (issue 23), so a
machine at 0.8 times this rate takes about 1/0.8 as long. Writes ``benchmarks/results/book_build_<preset>.json`` (read by the
reproducing page through ``lib.book``) and ``book_build_<preset>.log``, the
terminal output of both runs with elapsed seconds.

    python benchmarks/book_build.py [--preset quick] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# Variables that would let the clone reuse this checkout's caches or venv.
_CLEARED = ("RUNS_DIR", "RESULTS_DIR", "DATA_ROOT", "VIRTUAL_ENV", "PRESET", "DEVICE")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def _run_make(clone: Path, args: list[str], log, label: str) -> dict:
    """Run ``make book`` in ``clone``, echoing and logging each line with its
    elapsed time; returns wall time, exit code and when each stage started."""
    print(f"--- {label}: make {' '.join(args)}", file=log, flush=True)
    start = time.perf_counter()
    marks = {}
    proc = subprocess.Popen(["make", *args], cwd=clone, env=_clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for line in proc.stdout:
        elapsed = time.perf_counter() - start
        if line.startswith("== ") and "notebooks" not in marks:
            marks["notebooks"] = elapsed
        if "-m lib.book" in line:
            marks["html"] = elapsed
        stamped = f"[{elapsed:7.1f} s] {line}"
        log.write(stamped)
        log.flush()
        sys.stdout.write(stamped)
    rc = proc.wait()
    wall = time.perf_counter() - start
    notebooks = {}
    for path in sorted((clone / "book" / "executed").glob("*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            notebooks[path.stem] = round(meta["duration"], 1)
    stages = {"install_and_data_s": round(marks.get("notebooks", wall), 1),
              "html_s": round(wall - marks["html"], 1) if "html" in marks else None}
    return {"rc": rc, "wall_s": round(wall, 1), **stages, "notebooks_s": notebooks}


def _engine_rates(clone: Path) -> dict:
    """This machine's float32 and bf16-autocast engine rates (WRN-16-1, batch
    128, images/s) in the clone's venv: the scale of the recorded build."""
    done = subprocess.run([str(clone / ".venv" / "bin" / "python"),
                           str(clone / "benchmarks" / "train_throughput.py"), "--device", "cpu",
                           "--engines-only", "--steps", "30"], cwd=clone, env=_clean_env(),
                          capture_output=True, text=True)
    if done.returncode:  # the build's record is kept; only the scale is missing
        print(f"warning: the engine rates were not measured:\n{done.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--keep", action="store_true", help="keep the clone (printed)")
    args = parser.parse_args()
    if _git("status", "--porcelain", "--untracked-files=no"):
        print("warning: the checkout has uncommitted changes; the clone builds HEAD only",
              file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="book-build-"))
    clone, data_root = workdir / "clone", workdir / "data"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # the commit the clone builds (HEAD may move while a 30-minute build runs)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / f"book_build_{args.preset}.log"
    make_args = ["book", f"PRESET={args.preset}", f"DATA_ROOT={data_root}"]
    with open(log_path, "w") as log:
        cold = _run_make(clone, make_args, log, "cold (fresh clone, empty caches)")
        warm = _run_make(clone, make_args, log, "second run, nothing changed") if cold["rc"] == 0 \
            else None
    engines = _engine_rates(clone) if cold["rc"] == 0 else None
    record = {"preset": args.preset, "commit": commit,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "cpu_cores": os.cpu_count(), "machine": f"{platform.machine()}, {platform.system()}",
              "python": platform.python_version(), "cold": cold, "second_run": warm,
              "budget_s": {"cold": 40 * 60, "second_run": 1 * 60}, "aim_s": {"cold": 25 * 60},
              "engine_images_per_s": engines}
    out = RESULTS / f"book_build_{args.preset}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    print(f"wrote {out} and {log_path}")
    if args.keep:
        print(f"clone kept at {clone}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if cold["rc"] == 0 and warm and warm["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
