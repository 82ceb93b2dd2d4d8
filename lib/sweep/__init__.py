"""The sweep runner (issue 16; design.md §3): every section's runs at a preset,
planned (:mod:`lib.sweep.plan`), costed from recorded throughput
(:mod:`lib.sweep.throughput`) and trained into the shared run cache through
submitit on Slurm, local processes or in-process (:mod:`lib.sweep.executor`,
:mod:`lib.sweep.worker`). The notebooks then render from the cache.

    python -m lib.sweep plan --preset paper
    python -m lib.sweep run --preset paper --executor slurm --partition gpu
    make book PRESET=paper
"""

from lib.sweep.plan import Plan, PlannedRun, ResolveStep, build_plan

__all__ = ["Plan", "PlannedRun", "ResolveStep", "build_plan"]
