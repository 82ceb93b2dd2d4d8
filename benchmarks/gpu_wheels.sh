#!/usr/bin/env bash
# The wheels benchmarks/gpu_session.sh needs on the lent GPU machine (issue 23, item 5): that
# machine has no network, and its image's python3 (CPython 3.12, x86_64, torch 2.11 and the
# scientific stack) lacks papermill, the Jupyter kernel machinery, myst_nb's glue, torchattacks,
# imbalanced-learn and submitit. Run this HERE, where pip reaches a registry, before the session:
#
#   benchmarks/gpu_wheels.sh     # (re)downloads them into .whl/ (git-ignored), checks them, sizes
#
# then the session's device call carries the folder: carry=[".whl"]. gpu_session.sh installs them
# there with `pip install --no-index --no-deps --target`. Torch is never carried (the image's is
# used). Versions: requirements.txt's pins where it lists the package, else the versions its pins
# resolved to in .venv (a tested set). The check reads each wheel's Requires-Dist (markers
# evaluated for CPython 3.12 on Linux x86_64) and fails on a need that is neither carried nor in
# IMAGE, the image's packages (its package list, read 2026-11-17).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}   # any Python with pip here; the wheels are chosen for CPython 3.12
DEST=.whl
LIMIT_MIB=64                # what one device call may carry: the tree that travels + the wheels

WHEELS=(
  # requirements.txt's pins
  papermill==2.6.0 nbformat==5.10.4 ipykernel==6.31.0 torchattacks==3.5.1
  imbalanced-learn==0.14.0 submitit==1.5.4
  # papermill's needs
  nbclient==0.11.0 ansicolors==1.1.8 entrypoints==0.4.2 tenacity==9.2.1
  # nbformat's
  fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  referencing==0.37.0 rpds-py==2026.9.1 jupyter_core==5.9.1 platformdirs==4.14.9
  traitlets==5.16.1
  # ipykernel's (the kernel the notebooks run in)
  jupyter_client==8.10.0 pyzmq==27.3.0 tornado==6.6.1 debugpy==1.8.22 comm==0.2.3
  nest-asyncio==1.6.0 matplotlib-inline==0.2.2
  # ipython's
  ipython==9.19.1 ipython_pygments_lexers==1.1.1 jedi==0.20.1 parso==0.8.7
  prompt_toolkit==3.0.53 wcwidth==0.9.5 pexpect==4.9.0 ptyprocess==0.7.0 stack-data==0.6.3
  executing==2.3.0 asttokens==3.0.2 pure_eval==0.2.4
  # lib.notebook glues values with myst_nb.glue: myst_nb and docutils are all it imports
  myst-nb==1.4.0 docutils==0.21.2
)
# What the wheels need that the image already holds (a carried copy would shadow it)
IMAGE=(aiohttp attrs click cloudpickle joblib numpy packaging psutil pygments python-dateutil
       pyyaml requests scikit-learn scipy threadpoolctl torch torchvision tqdm typing-extensions)
# Declared but not imported by what runs there: myst-nb's Sphinx side (only myst_nb.glue runs)
UNUSED=(importlib-metadata jupyter-cache myst-parser sphinx)

PLATFORM=(--python-version 3.12 --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
          --platform manylinux1_x86_64)

new=$(mktemp -d)
trap 'rm -rf "$new"' EXIT
# (this machine's pip may warn of configured index folders that do not exist: not shown)
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: "${PLATFORM[@]}" -d "$new" "${WHEELS[@]}" \
  2> >(grep -v "^WARNING: Location 'file:" >&2)
rm -rf "$DEST"
mkdir "$DEST"
mv "$new"/*.whl "$DEST"/

# each need carried or in the image; one version of each; every pin downloaded
"$PYTHON" - "$DEST" "${#WHEELS[@]}" "${IMAGE[*]}" "${UNUSED[*]}" <<'EOF'
import re, sys, zipfile
from pathlib import Path
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

dest, expected, image, unused = Path(sys.argv[1]), int(sys.argv[2]), *map(str.split, sys.argv[3:5])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
env = dict(python_version="3.12", python_full_version="3.12.3", implementation_name="cpython",
           platform_python_implementation="CPython", sys_platform="linux", os_name="posix",
           platform_system="Linux", platform_machine="x86_64", extra="")
wheels = sorted(dest.glob("*.whl"))
carried = {}
for wheel in wheels:
    carried.setdefault(norm(wheel.name.split("-")[0]), []).append(wheel.name)
problems = [f"{name}: {len(files)} versions ({', '.join(files)})"
            for name, files in carried.items() if len(files) > 1]
if len(wheels) != expected:
    problems.append(f"{len(wheels)} wheels for {expected} pins")
known = set(carried) | {norm(n) for n in image + unused}
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        need = Requirement(line.split(":", 1)[1].strip())
        if need.marker and not need.marker.evaluate(env):
            continue
        if norm(need.name) not in known:
            problems.append(f"{wheel.name} needs {need}: neither carried nor in the image")
if problems:
    sys.exit("gpu_wheels: " + "\n  ".join(["check failed:"] + problems))
print(f"gpu_wheels: {len(wheels)} wheels, one version each; every need carried or in the image")
EOF

wheels_b=$(du -cb "$DEST"/*.whl | tail -n 1 | cut -f1)
tree_b=$(git ls-files -z -c -o --exclude-standard | du -cb --files0-from=- 2> /dev/null | tail -n 1 | cut -f1)
ls -l "$DEST" | awk 'NR > 1 {printf "  %9d  %s\n", $5, $9}'
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "gpu_wheels: $DEST/ holds $(mib "$wheels_b"); the tree that travels $(mib "$tree_b");" \
     "together $(mib $((wheels_b + tree_b))) of the $LIMIT_MIB MiB a device call carries"
if (( wheels_b + tree_b > LIMIT_MIB * 1048576 )); then
  echo "gpu_wheels: too large to travel" >&2
  exit 1
fi
echo "next: run(command=\"bash benchmarks/gpu_session.sh\", carry=[\".whl\"], timeout_s=540)"
