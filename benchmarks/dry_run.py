"""The paper preset's dry run, timed as CI runs it (issue 14, item 4: at most
10 minutes on 2 cores), and the preflight check that a root lacking SVHN fails
in under 10 s, naming it.

In a fresh clone of HEAD (its own venv, installed first and not timed, run
cache, result store and data cache), it writes a
miniature data root (``python -m lib.data.miniature``), times
``make book PRESET=paper DRY_RUN=1 DATA_ROOT=<miniature>`` cold, then again
with nothing changed, and times the same command on a root holding only
CIFAR-10/100. Writes ``benchmarks/results/dry_run.json`` and the terminal
output of the cold build beside it (``dry_run.log``).

    python benchmarks/dry_run.py [--keep]
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
BUDGET_S = {"cold": 600, "missing_svhn": 10}


def _timed(command: list[str], cwd: Path, env: dict, log=None) -> dict:
    began = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, text=True, capture_output=True)
    if log is not None:
        log.write(f"$ {' '.join(command)}\n{out.stdout}{out.stderr}\n")
    return {"seconds": round(time.perf_counter() - began, 1), "rc": out.returncode,
            "names_svhn": "svhn" in out.stderr, "stderr_tail": out.stderr[-600:]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="dry_run_"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNS_DIR", "RESULTS_DIR", "CACHE_DIR", "DATA_ROOT", "PRESET",
                        "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(REPO)))
    subprocess.run(["make", "venv"], cwd=clone, env=env, check=True, capture_output=True)
    python = str(clone / ".venv" / "bin" / "python")
    full, partial = work / "miniature", work / "cifar_only"
    subprocess.run([python, "-m", "lib.data.miniature", str(full)], cwd=clone, check=True,
                   capture_output=True, env=env)
    subprocess.run([python, "-m", "lib.data.miniature", str(partial), "--only", "cifar10",
                    "cifar100"], cwd=clone, check=True, capture_output=True, env=env)
    make = ["make", "book", "PRESET=paper", "DRY_RUN=1"]
    with open(RESULTS / "dry_run.log", "w") as log:
        record = {
            "commit": commit, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "missing_svhn": _timed([*make, f"DATA_ROOT={partial}"], clone, env),
            "cold": _timed([*make, f"DATA_ROOT={full}"], clone, env, log),
            "second_run": _timed([*make, f"DATA_ROOT={full}"], clone, env),
            "budget_s": BUDGET_S,
        }
    (RESULTS / "dry_run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "budget_s"}, indent=2))
    if not args.keep:
        shutil.rmtree(work)
    ok = (record["cold"]["rc"] == 0 and record["missing_svhn"]["rc"] != 0
          and record["missing_svhn"]["names_svhn"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
