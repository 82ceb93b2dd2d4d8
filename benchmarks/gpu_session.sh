#!/usr/bin/env bash
# One GPU session (issue 23, item 5): what the project wants measured on a GPU, in at most
# 8 minutes on one H100/H200, install included, recorded under benchmarks/results/.
#
#   benchmarks/gpu_session.sh               # every step (exits 0 at once where there is no GPU)
#   benchmarks/gpu_session.sh STEP ...      # only these steps (e.g. one that failed), after
#                                           # install and the data roots
#   benchmarks/gpu_session.sh --dry-plan    # print the steps and their time limits, run nothing
#
# Python: .venv/bin/python where it exists (install skipped); else the machine's python3, which
# must hold torch (the lent machine's image does), with the repository on PYTHONPATH and the
# wheels of .whl/ (benchmarks/gpu_wheels.sh, run beforehand where pip reaches a registry; the
# device call carries .whl) installed into a temporary folder, no network needed.
# GPU_SESSION_PYTHON names another interpreter (install skipped, PYTHONPATH left as it is).
#
# Each step runs under its own time limit; one that fails or runs out of time is recorded as
# such and the next one runs. The last step, the dry run, gets whatever the others left of the
# budget. The logic of each step is in the script it calls. Written:
#   benchmarks/results/gpu_session.json         each step: status, wall time, limit; GPU; commit
#   benchmarks/results/gpu_session/<step>.log   each step's output
#   and what each step's script records (cuda_path_check*.json, train_throughput_cuda*,
#   sweep_throughput_cuda.json, sweep_plan_paper.md, runs_per_device_cuda_wrn-40-2.*)
# Where $OUT is a folder (the device machine's return folder), everything this session recorded
# is packed into $OUT/gpu_session.tgz (paths under benchmarks/results/), with a copy of
# gpu_session.json beside it. GPU_SESSION_COMMIT names the commit where the tree has no .git;
# GPU_SESSION_RESULTS records somewhere else than benchmarks/results (the tests).
#
# Exit status: 0 when every step succeeded, or where there is no GPU (nvidia-smi lists none, or
# torch imports but sees no CUDA device; nothing recorded); 1 when a step failed; 2 when the
# interpreter cannot import torch (a broken install: recorded as the step "torch").
set -uo pipefail
cd "$(dirname "$0")/.."

BUDGET_S=480   # 8 minutes, install included
RESERVE_S=10   # kept for the summary and the archive
RESULTS=${GPU_SESSION_RESULTS:-benchmarks/results}
WORK=${TMPDIR:-/tmp}/gpu_session.$$
MINI=$WORK/miniature   # every paper dataset in its on-disk format, a few images each
CIFAR=$WORK/cifar10    # CIFAR-10 alone, 1,000 images per class: the runs-per-GPU workload
SITE=$WORK/site        # the carried wheels, installed
EXECUTED=$WORK/executed  # the dry run's executed notebooks (their error logs are recorded)
if [[ -n ${GPU_SESSION_PYTHON:-} ]]; then
  PY=$GPU_SESSION_PYTHON; INSTALL=no
elif [[ -x .venv/bin/python ]]; then
  PY=.venv/bin/python; INSTALL=no
else  # the image's python3 (it holds torch): this repository and the carried wheels on its path
  PY=python3; INSTALL=yes
  export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export JUPYTER_PATH=$WORK/jupyter/share/jupyter JUPYTER_PLATFORM_DIRS=1 IPYTHONDIR=$WORK/ipython
fi

# name|time limit in seconds ("rest": what the budget has left)|command
STEPS=(
  "install|25|install_wheels"
  "miniature_roots|15|$PY -m lib.data.miniature $MINI && $PY -m lib.data.miniature $CIFAR --only cifar10 --per-class 1000"
  "cuda_path_check|20|$PY benchmarks/cuda_path_check.py"
  "cuda_path_check_compile|60|$PY benchmarks/cuda_path_check.py --compile"
  "train_throughput_wrn-40-2|25|$PY benchmarks/train_throughput.py --device cuda --workers 4"
  "train_throughput_wrn-28-10|25|$PY benchmarks/train_throughput.py --device cuda --workers 4 --architecture wrn-28-10"
  "sweep_throughput|40|$PY benchmarks/sweep_throughput.py --device cuda --presets paper --seconds 2 --note 'benchmarks/gpu_session.sh'"
  "sweep_plan_paper|10|$PY -m lib.sweep plan --preset paper > $RESULTS/sweep_plan_paper.md && cat $RESULTS/sweep_plan_paper.md"
  "runs_per_gpu|60|$PY benchmarks/runs_per_device.py --device cuda --layouts 1x2 2x2 4x2 8x2 --runs-per-worker 1 --architecture wrn-40-2 --dataset cifar10 --data-root $CIFAR --images 10000 --epochs 2 --batch 128 --tag wrn-40-2"
  "dry_run_paper_cuda|rest|dry_run_cuda"
)

# The wheels of .whl/ into $SITE (no index, no dependency resolution: the set is complete, see
# benchmarks/gpu_wheels.sh), a Jupyter kernel "python3" (the notebooks' kernelspec) running this
# same interpreter, then every module the steps import.
install_wheels() {
  local wheels=(.whl/*.whl)
  if [[ ! -e ${wheels[0]} ]]; then
    echo "no wheels in .whl/: run benchmarks/gpu_wheels.sh where pip reaches a registry and carry .whl"
    return 1
  fi
  echo "installing ${#wheels[@]} wheels from .whl/ into $SITE for $(command -v "$PY")"
  rm -rf "$SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --target "$SITE" "${wheels[@]}" || return 1
  "$PY" -m ipykernel install --prefix "$WORK/jupyter" --name python3 --display-name "Python 3" || return 1
  "$PY" -c 'import importlib, sys
from jupyter_client.kernelspec import KernelSpecManager
print("kernel python3:", " ".join(KernelSpecManager().get_kernel_spec("python3").argv))
for name in ("torch", "papermill", "nbclient", "nbformat", "ipykernel", "IPython", "zmq",
             "myst_nb.ext.glue", "torchattacks", "imblearn", "submitit", "lib.sweep"):
    module = importlib.import_module(name)
    print(name, getattr(module, "__version__", ""), "from", module.__file__)'
}

# The paper preset's dry run on CUDA, as `make notebooks PRESET=paper DRY_RUN=1 DEVICE=cuda` does it
# (no .venv needed, no HTML): the checks, the release fixtures, notebook 00 (it also makes the
# fixtures' sources), then the six others at once (the run cache's locks let them share runs),
# each logging to its own file
dry_run_cuda() {
  local parameters=(-p preset paper -p data_root "$MINI" -p device cuda -b dry_run 1
                    -p source trained -i source_world_size 1 -p cpu_precision float32)
  "$PY" -m lib.presets check paper --device cuda --data-root "$MINI" --dry-run 1 --source trained \
    --source-world-size 1 --cpu-precision float32 || return 1
  "$PY" -m lib.preflight paper "$MINI" || return 1
  "$PY" -m lib.weights dry-run-fixtures || return 1
  "$PY" -m lib.execution notebooks/00_pretraining.ipynb "$EXECUTED" "${parameters[@]}" || return 1
  local nb logs=() pids=() rc=0 i
  for nb in notebooks/0[1-9]_*.ipynb; do
    logs+=("$RESULTS/gpu_session/dry_run_paper_cuda_$(basename "$nb" .ipynb).log")
    OMP_NUM_THREADS=2 "$PY" -m lib.execution "$nb" "$EXECUTED" "${parameters[@]}" > "${logs[-1]}" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" && echo "ok: ${logs[i]}" || { rc=1; echo "failed: ${logs[i]}"; }
  done
  return $rc
}
export -f install_wheels dry_run_cuda
export PY MINI RESULTS WORK SITE EXECUTED

if [[ "${1:-}" == "--dry-plan" ]]; then
  fixed=0
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name limit command <<< "$s"
    [[ $limit == rest ]] || fixed=$((fixed + limit))
    declare -F "$command" > /dev/null && command=$(declare -f "$command" | tr -s ' \n' ' ')
    printf '%-28s %5s s  %s\n' "$name" "$limit" "$command"
  done
  echo "budget $BUDGET_S s: fixed limits $fixed s, summary $RESERVE_S s, the dry run at least" \
       "$((BUDGET_S - RESERVE_S - fixed)) s; python $PY (install: $INSTALL)"
  exit 0
fi

if ! command -v nvidia-smi > /dev/null || [[ $(nvidia-smi -L 2> /dev/null) != *GPU* ]]; then
  echo "gpu_session: no GPU on this machine (nvidia-smi absent or lists none): nothing run, nothing recorded"
  exit 0
fi

now_ms() { echo $(( ${EPOCHREALTIME//[.,]/} / 1000 )); }
START=$(now_ms)
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/stamp"
: > "$WORK/steps.tsv"

# torch first (it needs no wheel): no CUDA device -> nothing to measure, exit 0 unrecorded; torch
# not importable -> the install is broken: recorded (step "torch"), exit 2
"$PY" -c 'import sys
try:
    import torch
except BaseException as error:
    print(f"torch does not import: {type(error).__name__}: {error}")
    sys.exit(3)
usable = torch.cuda.is_available()
print("torch", getattr(torch, "__version__", "?"), "from", torch.__file__, "- CUDA",
      "available" if usable else "not available")
sys.exit(0 if usable else 4)' > "$WORK/torch.log" 2>&1
torch_rc=$?
broken=0
case $torch_rc in
  0) ;;
  4) echo "gpu_session: no GPU usable here (torch.cuda.is_available() is false): nothing recorded"
     exit 0 ;;
  *) broken=1
     echo "gpu_session: $PY cannot import torch (rc $torch_rc): the install is broken, no step can" \
          "run; recorded as the step torch"
     tail -n 5 "$WORK/torch.log" | sed 's/^/   | /' ;;
esac

mkdir -p "$RESULTS/gpu_session"
cp "$WORK/torch.log" "$RESULTS/gpu_session/torch.log"  # which torch, from where
export RUNS_DIR=$WORK/runs RESULTS_DIR=$WORK/rows CACHE_DIR=$WORK/cache PYTHONUNBUFFERED=1
if (( broken )); then
  printf 'torch\tfailed: torch does not import (rc %s)\t%s\t0\n' "$torch_rc" \
    "$(( ($(now_ms) - START) / 1000 ))" >> "$WORK/steps.tsv"
  STEPS=()
fi
for s in "${STEPS[@]}"; do
  IFS='|' read -r name limit command <<< "$s"
  # named steps only (install and the data roots always: the others need them)
  if [[ $# -gt 0 && " $* " != *" $name "* && $name != install && $name != miniature_roots ]]; then
    continue
  fi
  left=$(( BUDGET_S - RESERVE_S - ($(now_ms) - START) / 1000 ))
  [[ $limit == rest || $limit -gt $left ]] && limit=$left
  log=$RESULTS/gpu_session/$name.log
  began=$(now_ms)
  if [[ $name == install && $INSTALL == no ]]; then
    status=skipped; echo "$PY holds the packages: nothing installed" > "$log"
  elif (( limit <= 0 )); then
    status="not run: budget spent"; : > "$log"
  else
    timeout -k 5 "$limit" bash -c "$command" > "$log" 2>&1
    rc=$?
    case $rc in 0) status=ok ;; 124 | 137) status="timeout after $limit s" ;; *) status="failed (rc $rc)" ;; esac
  fi
  seconds=$(( ($(now_ms) - began) / 1000 ))
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$seconds" "$limit" >> "$WORK/steps.tsv"
  echo "== $name: $status, $seconds s (limit $limit s; output in $log)"
  [[ $status == ok || $status == skipped ]] || tail -n 15 "$log" | sed 's/^/   | /'
  if [[ $name == install && $status != ok && $status != skipped ]]; then
    echo "gpu_session: the install failed: the steps that need its packages will fail too"
  fi
done
for f in "$EXECUTED"/logs/*.error.log; do  # the dry run's failing cells, with their tracebacks
  [[ -e $f ]] && cp "$f" "$RESULTS/gpu_session/dry_run_paper_cuda_$(basename "$f")"
done
failed=$(cut -f2 "$WORK/steps.tsv" | grep -cv '^ok$\|^skipped$')

commit=${GPU_SESSION_COMMIT:-$(git rev-parse HEAD 2> /dev/null || echo unknown)}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
summary() {
  "$1" - "$WORK/steps.tsv" "$RESULTS/gpu_session.json" "$commit" "$gpu" \
      "$(( ($(now_ms) - START) / 1000 ))" "$BUDGET_S" "$PY" "$CHOSEN" <<'EOF'
import datetime, json, pathlib, sys
steps, target, commit, gpu, seconds, budget, python, chosen = sys.argv[1:]
target = pathlib.Path(target)
date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
old = json.loads(target.read_text())["steps"] if target.exists() else []  # steps not run now stay
now = [dict(step=n, status=s, seconds=int(t), limit_s=int(l), date=date, commit=commit)
       for n, s, t, l in (line.split("\t") for line in open(steps).read().splitlines())]
names = {s["step"] for s in now}
record = {"gpu": gpu, "commit": commit, "date": date, "budget_s": int(budget),
          "seconds": int(seconds), "python": python,
          "command": f"benchmarks/gpu_session.sh {chosen}".strip(),
          "steps": [s for s in old if s["step"] not in names] + now}
target.write_text(json.dumps(record, indent=2) + "\n")
print(f"wrote {target}: " + ", ".join(f"{s['step']} {s['status']}" for s in now))
EOF
}
CHOSEN="$*"
summary "$PY" || summary python3

# everything recorded now, in one archive (the device returns at most 8 files, 2 folders down):
# unpack it into benchmarks/results/ (README, "A GPU session")
if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then
  find "$RESULTS" -type f -newer "$WORK/stamp" -printf '%P\n' | sort > "$WORK/recorded"
  tar -czf "$OUT/gpu_session.tgz" -C "$RESULTS" -T "$WORK/recorded" \
    && cp "$RESULTS/gpu_session.json" "$OUT/gpu_session.json" \
    && echo "packed $(wc -l < "$WORK/recorded") files into $OUT/gpu_session.tgz" \
              "($(du -k "$OUT/gpu_session.tgz" | cut -f1) KiB)"
fi
(( broken )) && exit 2
exit $(( failed > 0 ))
