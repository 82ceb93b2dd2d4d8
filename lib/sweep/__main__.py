"""``python -m lib.sweep plan|run``: see :mod:`lib.sweep`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib.paths import default_runs_dir
from lib.presets import get_run_preset, preset_names
from lib.sections import section_names
from lib.sweep.executor import SlurmOptions, SweepRunner
from lib.sweep.plan import build_plan, format_summary
from lib.sweep.throughput import load_tables
from lib.sweep.worker import WorkerSettings

# Per-job resources by preset: the paper's WRNs want a GPU; smoke and quick runs are small.
DEFAULTS = {"paper": dict(gpus=1, cpus=8, mem_gb=32, time_min=24 * 60),
            "default": dict(gpus=0, cpus=2, mem_gb=0, time_min=60)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib.sweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "print every section's runs, epochs, images and "
                                "estimated device-hours"),
                       ("run", "train every run missing from the cache through submitit")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--preset", required=True, choices=preset_names())
        sub.add_argument("--sections", nargs="+", choices=section_names(), default=None,
                         help="only these sections (default: all)")
        sub.add_argument("--source-world-size", type=int, default=1,
                         help="pre-train each source data-parallel over this many processes "
                              "(one job of as many tasks, one GPU each); the notebooks then "
                              "render with SOURCE_WORLD_SIZE set to it (default 1)")
    run = commands.choices["run"]
    run.add_argument("--executor", default="slurm", choices=("slurm", "local", "debug"))
    run.add_argument("--runs-dir", default=None, help="the shared run cache (default $RUNS_DIR "
                                                      "or runs/)")
    run.add_argument("--data-root", default=None)
    run.add_argument("--device", default="auto")
    run.add_argument("--logs", default=None,
                     help="submitit's folder of job logs (default <runs dir>/sweep/<preset>)")
    run.add_argument("--workers", type=int, default=1, help="local executor: processes at once")
    run.add_argument("--threads", type=int, default=None,
                     help="torch threads per job (default: the job's CPUs)")
    run.add_argument("--gpus", type=int, default=None, help="GPUs per job (paper: 1, else 0)")
    run.add_argument("--cpus", type=int, default=None, help="CPUs per job (paper: 8, else 2)")
    run.add_argument("--mem-gb", type=float, default=None,
                     help="memory per job in GB (paper: 32; 0: the partition's default)")
    run.add_argument("--time-min", type=int, default=None,
                     help="time limit per job in minutes (paper: 1440, else 60); a job that "
                          "reaches it is requeued and resumes from its last epoch")
    run.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    run.add_argument("--array-parallelism", type=int, default=256,
                     help="Slurm: jobs of an array running at once")
    run.add_argument("--runs-per-job", type=int, default=1,
                     help="Slurm: runs trained side by side in one job, sharing its GPUs "
                          "(one task each, with --cpus CPUs)")
    run.add_argument("--poll-s", type=float, default=10.0, help="seconds between progress checks")
    run.add_argument("--no-wait", action="store_true",
                     help="Slurm: submit every wave and exit without following the jobs")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        preset = get_run_preset(args.preset, source_world_size=args.source_world_size)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plan = build_plan(preset, args.sections)
    if args.command == "plan":
        print(format_summary(plan, load_tables()))
        return 0

    defaults = DEFAULTS.get(args.preset, DEFAULTS["default"])
    options = SlurmOptions(**{k: getattr(args, k) if getattr(args, k) is not None else v
                              for k, v in defaults.items()},
                           partition=args.partition, array_parallelism=args.array_parallelism,
                           runs_per_job=args.runs_per_job)
    runs_dir = Path(args.runs_dir).expanduser() if args.runs_dir else default_runs_dir()
    settings = WorkerSettings(str(runs_dir.resolve()), args.data_root, args.device, args.threads)
    folder = Path(args.logs) if args.logs else runs_dir / "sweep" / args.preset
    runner = SweepRunner(plan, args.executor, settings, folder, slurm=options,
                         workers=args.workers, poll_s=args.poll_s)
    counts = runner.run(wait=not args.no_wait)
    return 1 if counts["failed"] or counts["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
