#!/usr/bin/env bash
# One GPU session (issue 23, item 5): what the project wants measured on a GPU, in at most
# 8 minutes on one H100/H200, install included, recorded under benchmarks/results/.
#
#   benchmarks/gpu_session.sh               # every step (exits 0 at once where there is no GPU)
#   benchmarks/gpu_session.sh STEP ...      # only these steps (e.g. one that failed), after
#                                           # install (if needed) and the data roots
#   benchmarks/gpu_session.sh --dry-plan    # print the steps and their time limits, run nothing
#
# Each step runs under its own time limit; one that fails or runs out of time is recorded as
# such and the next one runs. The last step, the dry run, gets whatever the others left of the
# budget. The logic of each step is in the script it calls. Written:
#   benchmarks/results/gpu_session.json         each step: status, wall time, limit; GPU; commit
#   benchmarks/results/gpu_session/<step>.log   each step's output
#   and what each step's script records (cuda_path_check*.json, train_throughput_cuda*,
#   sweep_throughput_cuda.json, sweep_plan_paper.md, runs_per_device_cuda_wrn-40-2.*)
# Where $OUT is a folder (the device machine's return folder), what was recorded is copied
# into it. GPU_SESSION_COMMIT names the commit where the tree has no .git.
set -uo pipefail
cd "$(dirname "$0")/.."

BUDGET_S=480   # 8 minutes, install included
RESERVE_S=10   # kept for the summary
PY=.venv/bin/python
RESULTS=benchmarks/results
WORK=${TMPDIR:-/tmp}/gpu_session.$$
MINI=$WORK/miniature   # every paper dataset in its on-disk format, a few images each
CIFAR=$WORK/cifar10    # CIFAR-10 alone, 1,000 images per class: the runs-per-GPU workload

# name|time limit in seconds ("rest": what the budget has left)|command
STEPS=(
  "install|150|make venv"
  "miniature_roots|15|$PY -m lib.data.miniature $MINI && $PY -m lib.data.miniature $CIFAR --only cifar10 --per-class 1000"
  "cuda_path_check|25|$PY benchmarks/cuda_path_check.py"
  "cuda_path_check_compile|75|$PY benchmarks/cuda_path_check.py --compile"
  "train_throughput_wrn-40-2|25|$PY benchmarks/train_throughput.py --device cuda --workers 4"
  "train_throughput_wrn-28-10|25|$PY benchmarks/train_throughput.py --device cuda --workers 4 --architecture wrn-28-10"
  "sweep_throughput|50|$PY benchmarks/sweep_throughput.py --device cuda --presets paper --seconds 2 --note 'benchmarks/gpu_session.sh'"
  "sweep_plan_paper|10|$PY -m lib.sweep plan --preset paper > $RESULTS/sweep_plan_paper.md && cat $RESULTS/sweep_plan_paper.md"
  "runs_per_gpu|70|$PY benchmarks/runs_per_device.py --device cuda --layouts 1x2 2x2 4x2 8x2 --runs-per-worker 1 --architecture wrn-40-2 --dataset cifar10 --data-root $CIFAR --images 10000 --epochs 2 --batch 128 --tag wrn-40-2"
  "dry_run_paper_cuda|rest|dry_run_cuda"
)

# make book's notebooks at the paper preset's dry run on CUDA, without the HTML: 00 first (it
# also imports the release fixtures), then the six others at once (the run cache's locks let
# them share runs), each logging to its own file
dry_run_cuda() {
  local make=(make -o .venv/.installed notebooks PRESET=paper DRY_RUN=1 DATA_ROOT="$MINI" DEVICE=cuda)
  "${make[@]}" NOTEBOOKS=notebooks/00_pretraining.ipynb || return 1
  local nb logs=() pids=() rc=0 i
  for nb in notebooks/0[1-9]_*.ipynb; do
    logs+=("$RESULTS/gpu_session/dry_run_paper_cuda_$(basename "$nb" .ipynb).log")
    OMP_NUM_THREADS=2 "${make[@]}" NOTEBOOKS="$nb" > "${logs[-1]}" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" && echo "ok: ${logs[i]}" || { rc=1; echo "failed: ${logs[i]}"; }
  done
  return $rc
}
export -f dry_run_cuda
export MINI RESULTS

if [[ "${1:-}" == "--dry-plan" ]]; then
  fixed=0
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name limit command <<< "$s"
    [[ $limit == rest ]] || fixed=$((fixed + limit))
    declare -F "$command" > /dev/null && command=$(declare -f "$command" | tr -s ' \n' ' ')
    printf '%-28s %5s s  %s\n' "$name" "$limit" "$command"
  done
  echo "budget $BUDGET_S s: fixed limits $fixed s, summary $RESERVE_S s, the dry run at least $((BUDGET_S - RESERVE_S - fixed)) s"
  exit 0
fi

if ! command -v nvidia-smi > /dev/null || [[ $(nvidia-smi -L 2> /dev/null) != *GPU* ]]; then
  echo "gpu_session: no GPU on this machine (nvidia-smi absent or lists none): nothing run, nothing recorded"
  exit 0
fi
cuda_or_exit() {
  if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2> /dev/null; then
    echo "gpu_session: no GPU usable here (torch.cuda.is_available() is false): nothing recorded"
    exit 0
  fi
}
[[ -x $PY ]] && cuda_or_exit

now_ms() { echo $(( ${EPOCHREALTIME//[.,]/} / 1000 )); }
START=$(now_ms)
mkdir -p "$WORK" "$RESULTS/gpu_session"
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/stamp"
export RUNS_DIR=$WORK/runs RESULTS_DIR=$WORK/rows CACHE_DIR=$WORK/cache PYTHONUNBUFFERED=1
: > "$WORK/steps.tsv"
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
  if [[ $name == install && -x $PY ]]; then
    status=skipped; echo ".venv exists: not installed again" > "$log"
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
  if [[ $name == install ]]; then
    [[ -x $PY ]] || { echo "gpu_session: the install failed: no other step can run"; break; }
    cuda_or_exit
  fi
done
failed=$(cut -f2 "$WORK/steps.tsv" | grep -cv '^ok$\|^skipped$')

commit=${GPU_SESSION_COMMIT:-$(git rev-parse HEAD 2> /dev/null || echo unknown)}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
python=$PY; [[ -x $python ]] || python=python3
"$python" - "$WORK/steps.tsv" "$RESULTS/gpu_session.json" "$commit" "$gpu" \
    "$(( ($(now_ms) - START) / 1000 ))" "$BUDGET_S" "$*" <<'EOF'
import datetime, json, pathlib, sys
steps, target, commit, gpu, seconds, budget, chosen = sys.argv[1:]
target = pathlib.Path(target)
date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
old = json.loads(target.read_text())["steps"] if target.exists() else []  # steps not run now stay
now = [dict(step=n, status=s, seconds=int(t), limit_s=int(l), date=date, commit=commit)
       for n, s, t, l in (line.split("\t") for line in open(steps).read().splitlines())]
names = {s["step"] for s in now}
record = {"gpu": gpu, "commit": commit, "date": date, "budget_s": int(budget),
          "seconds": int(seconds), "command": f"benchmarks/gpu_session.sh {chosen}".strip(),
          "steps": [s for s in old if s["step"] not in names] + now}
target.write_text(json.dumps(record, indent=2) + "\n")
print(f"wrote {target}: " + ", ".join(f"{s['step']} {s['status']}" for s in now))
EOF
if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then
  find "$RESULTS" -type f -newer "$WORK/stamp" -print0 | xargs -0 -r cp --parents -t "$OUT"
fi
exit $(( failed > 0 ))
