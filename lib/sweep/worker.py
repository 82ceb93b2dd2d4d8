"""What one sweep job runs (issue 16, item 2): train one planned run into the
shared run cache, or resolve a section's deferred runs. Workers only train
(and fill the evaluation memo); the notebooks render from the cache.

A job is a :class:`submitit.helpers.Checkpointable`: when Slurm preempts it or
its time runs out, submitit requeues it, and ``train_or_load`` resumes from
the run's last epoch (``state.pt``)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import submitit
import torch

from lib.devices import resolve_device
from lib.preflight import preflight
from lib.presets import get_run_preset
from lib.run_context import RunContext
from lib.sections import get_section
from lib.training import distributed
from lib.training.checkpoints import manifest_path
from lib.training.run_cache import SHIPPED_DIR, train_or_load


class MissingParentError(RuntimeError):
    """A run's parent is not in the run cache (its own job failed or was cancelled)."""


def in_cache(key: str, runs_dir: Path) -> bool:
    """Whether the cache (or the package's shipped checkpoints) holds run ``key``
    (presence of the checkpoint and its manifest; loading verifies them)."""
    return any(p.exists() and manifest_path(p).exists()
               for p in (Path(runs_dir) / key / "model.pt", SHIPPED_DIR / f"{key}.pt"))


@dataclass(frozen=True)
class WorkerSettings:
    runs_dir: str
    data_root: str | None
    device: str = "auto"
    threads: int | None = None  # torch threads; default: the job's CPUs


def _threads(settings: WorkerSettings) -> None:
    threads = settings.threads or int(os.environ.get("SLURM_CPUS_PER_TASK", 0)) or None
    if threads:
        torch.set_num_threads(threads)


class TrainRun(submitit.helpers.Checkpointable):
    """Train (or load) one :class:`~lib.training.RunConfig` into the cache; a
    missing parent fails at once instead of being trained here again."""

    def __call__(self, config, settings: WorkerSettings) -> dict:
        _threads(settings)
        parent = config.init
        if parent is not None and not in_cache(parent.key(), Path(settings.runs_dir)):
            raise MissingParentError(
                f"run {config.label or config.key()}: its parent {parent.label or parent.key()}"
                f" ({parent.key()}) is not in the run cache {settings.runs_dir}; its job "
                "failed or was cancelled (see its log)")
        began = time.perf_counter()
        run = train_or_load(config, root=settings.data_root, device=settings.device,
                            runs_dir=settings.runs_dir)
        return {"key": run.key, "from_cache": run.from_cache, "epochs": len(run.history),
                "seconds": round(time.perf_counter() - began, 1), "host": socket.gethostname()}


class DistributedTrainRun(TrainRun):
    """One data-parallel run (``config.world_size`` N > 1, issue 16 item 5):
    a job of N tasks, one process each, joined into one process group as
    ``torchrun`` would join them (submitit's ``TorchDistributedEnvironment``);
    rank 0 writes, and the job's result is rank 0's."""

    def __call__(self, config, settings: WorkerSettings) -> dict:
        environment = submitit.helpers.TorchDistributedEnvironment()
        if environment.world_size != config.world_size:
            raise RuntimeError(f"run {config.label or config.key()} needs {config.world_size} "
                               f"tasks; its job has {environment.world_size}")
        environment.export(set_cuda_visible_devices=False)  # LOCAL_RANK picks the GPU
        device = distributed.init_from_env(settings.device)
        return super().__call__(config, replace(settings, device=device))


class ResolveSection(submitit.helpers.Checkpointable):
    """Run a section on the cache (a :class:`~lib.run_context.RunContext`, as
    the notebook's session is one, after the same data preflight): its
    deferred runs (Forward/GLC stage 2) train, every other run loads, and its
    evaluations enter the memo."""

    def __call__(self, section: str, preset: str, settings: WorkerSettings,
                 source_world_size: int = 1) -> dict:
        _threads(settings)
        spec = get_run_preset(preset, source_world_size=source_world_size)
        root = Path(settings.data_root).expanduser() if settings.data_root else None
        preflight(spec, root)
        context = RunContext(get_section(section), spec, resolve_device(settings.device), root,
                             runs_dir=Path(settings.runs_dir))
        began = time.perf_counter()
        context.section.run(context)  # rows are the notebooks' business, not stored here
        return {"key": f"resolve-{section}", "trained": context.counts["trained"],
                "cached": context.counts["cached"],
                "seconds": round(time.perf_counter() - began, 1), "host": socket.gethostname()}


class RunGroup(submitit.helpers.Checkpointable):
    """Several runs in one job, one per Slurm task (``ntasks_per_node`` of
    them), sharing the job's GPUs: where one small network cannot fill a GPU
    (issue 16, item 4). Task ``i`` runs ``calls[i]``; tasks beyond the list idle."""

    def __call__(self, calls: list) -> dict | None:
        rank = submitit.JobEnvironment().global_rank
        if rank >= len(calls):
            return None
        function, args = calls[rank]
        return function(*args)
