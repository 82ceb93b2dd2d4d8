"""Run a sweep's plan through submitit (issue 16, item 2).

* ``slurm``: one job array per wave; a wave's array starts after the previous
  wave's (``afterany``: a failed parent does not cancel the rest; its children
  fail at once with :class:`~lib.sweep.worker.MissingParentError`). Jobs are
  requeued on preemption or timeout and resume from the last epoch.
* ``local``: at most ``workers`` processes on this machine, each run submitted
  as soon as its parent is done.
* ``debug``: every job in this process, one after another.

Only runs missing from the cache are submitted. Progress (submitted, running,
done, failed, left) is printed as it changes; a failed job is reported with
its log paths and the others go on.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from lib.sweep.plan import Plan, PlannedRun, ResolveStep
from lib.sweep.worker import (DistributedTrainRun, ResolveSection, RunGroup, TrainRun,
                              WorkerSettings, in_cache)
from lib.validation import check_choice

EXECUTORS = ("slurm", "local", "debug")


@dataclass
class SlurmOptions:
    """Resources of each job (``python -m lib.sweep run --help`` lists the defaults)."""

    gpus: int = 0
    cpus: int = 2
    mem_gb: float = 0  # 0: the partition's default
    time_min: int = 60
    partition: str | None = None
    array_parallelism: int = 256
    runs_per_job: int = 1  # runs sharing one job's GPU(s) and CPUs, one process each (item 4)
    extra: dict = field(default_factory=dict)  # further sbatch options, e.g. {"account": "x"}


@dataclass
class Outcome:
    item: object  # PlannedRun or ResolveStep
    job: object = None
    state: str = "left"  # left, submitted, running, done, failed, skipped
    result: dict | None = None
    error: str = ""
    grouped: bool = False  # one of several runs of a multi-task job: followed by the cache

    def logs(self) -> str:
        if self.job is None:
            return ""
        paths = getattr(self.job, "paths", None)
        return "" if paths is None else f"{paths.stdout} / {paths.stderr}"


def _has_result(job) -> bool:
    path = job.paths.result_pickle
    try:
        path.parent.chmod(path.parent.stat().st_mode)  # refresh an NFS attribute cache
    except OSError:
        pass
    return path.exists()


class SweepRunner:
    """Submits the missing part of ``plan`` and follows it to the end."""

    def __init__(self, plan: Plan, executor: str, settings: WorkerSettings, folder: Path, *,
                 slurm: SlurmOptions | None = None, workers: int = 1, poll_s: float = 5.0,
                 echo=print):
        check_choice("executor", executor, EXECUTORS)
        self.plan, self.kind, self.settings = plan, executor, settings
        self.folder, self.slurm = Path(folder), slurm or SlurmOptions()
        self.workers, self.poll_s, self.echo = max(1, int(workers)), poll_s, echo
        runs_dir = Path(settings.runs_dir)
        self.outcomes: dict[str, Outcome] = {}
        for item in (*plan.runs, *plan.resolves):
            outcome = Outcome(item)
            if isinstance(item, PlannedRun) and in_cache(item.key, runs_dir):
                outcome.state, outcome.result = "done", {"from_cache": True}
            self.outcomes[item.key] = outcome
        self._last_report = None

    # -- submission ------------------------------------------------------------------------
    def _executor(self):
        if self.kind == "debug":
            return submitit.DebugExecutor(folder=self.folder)
        if self.kind == "local":
            executor = submitit.LocalExecutor(folder=self.folder)
            executor.update_parameters(timeout_min=self.slurm.time_min)
            return executor
        executor = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=5)
        s = self.slurm
        params = dict(cpus_per_task=s.cpus, time=s.time_min, array_parallelism=s.array_parallelism,
                      job_name=f"sweep-{self.plan.preset.name}",
                      # USR2 this long before the limit: submitit requeues the job
                      signal_delay_s=int(max(10, min(120, s.time_min * 6))),
                      additional_parameters=dict(s.extra))
        if s.gpus:
            params["gpus_per_node"] = s.gpus
        if s.mem_gb:
            params["mem"] = f"{int(s.mem_gb * 1024)}MB"
        if s.partition:
            params["partition"] = s.partition
        executor.update_parameters(**params)
        return executor

    def _call(self, item):
        if isinstance(item, ResolveStep):
            return ResolveSection(), (item.section, self.plan.preset.name, self.settings,
                                      self.plan.preset.source_world_size)
        if item.config.world_size > 1:
            return DistributedTrainRun(), (item.config, self.settings)
        return TrainRun(), (item.config, self.settings)

    @staticmethod
    def _tasks(item) -> int:
        """Processes the item's job runs: a data-parallel run's world size, else 1."""
        return item.config.world_size if isinstance(item, PlannedRun) else 1

    def _parents(self, item) -> list[str]:
        if isinstance(item, ResolveStep):
            return list(item.parents)
        return [] if item.parent is None else [item.parent]

    def _ready(self, item) -> bool | None:
        """True when every parent is done, None when one failed, else False."""
        states = [self.outcomes[p].state for p in self._parents(item) if p in self.outcomes]
        if any(s in ("failed", "skipped") for s in states):
            return None
        return all(s == "done" for s in states)

    def submit_slurm(self) -> None:
        """Every missing item at once: one array per wave, each after the previous.
        With ``runs_per_job`` K > 1, each array task of training runs trains K
        runs side by side (K Slurm tasks sharing the job's GPUs)."""
        if shutil.which("sbatch") is None:
            raise RuntimeError("--executor slurm needs Slurm's sbatch on PATH (run it on a "
                               "cluster's login node); on this machine use --executor local")
        executor, previous = self._executor(), []
        k = max(1, int(self.slurm.runs_per_job))
        for wave in self.plan.waves():
            todo = [self.outcomes[i.key] for i in wave if self.outcomes[i.key].state == "left"]
            runs = [o for o in todo if isinstance(o.item, PlannedRun) and self._tasks(o.item) == 1]
            batches = ([(k, False, [runs[i:i + k] for i in range(0, len(runs), k)])] if k > 1
                       else [(1, False, [[o] for o in runs])])
            batches.append((1, False, [[o] for o in todo if not isinstance(o.item, PlannedRun)]))
            for world in sorted({self._tasks(o.item) for o in todo} - {1}):  # data-parallel
                batches.append((world, True, [[o] for o in todo if self._tasks(o.item) == world]))
            arrays = []
            for tasks, parallel, groups in batches:
                if not groups:
                    continue
                executor.update_parameters(
                    dependency="afterany:" + ":".join(previous) if previous else None,
                    ntasks_per_node=tasks,
                    # a data-parallel run: one GPU per process (item 5); a group shares them
                    **({"gpus_per_node": tasks * self.slurm.gpus if parallel else self.slurm.gpus}
                       if self.slurm.gpus else {}))
                with executor.batch():
                    jobs = [executor.submit(*self._call_flat(group[0].item))
                            if tasks == 1 or parallel else
                            executor.submit(RunGroup(), [self._call(o.item) for o in group])
                            for group in groups]
                for group, job in zip(groups, jobs):
                    for outcome in group:
                        outcome.job, outcome.state = job, "submitted"
                        outcome.grouped = tasks > 1 and not parallel
                arrays.append(jobs[0].job_id.split("_")[0])
                self.echo(f"submitted wave {wave[0].wave}: {len(jobs)} job(s) "
                          f"({sum(map(len, groups))} item(s), {tasks} per job) as array "
                          f"{arrays[-1]}" + (f" after {', '.join(previous)}" if previous else ""))
            previous = arrays or previous

    def _call_flat(self, item):
        function, args = self._call(item)
        return (function, *args)

    def _submit_ready(self, executor) -> None:
        """Submit what is ready while at most ``workers`` processes run (a
        data-parallel run counts its world size, and starts alone if larger)."""
        active = sum(self._tasks(o.item) for o in self.outcomes.values()
                     if o.state in ("submitted", "running"))
        for outcome in self.outcomes.values():
            if outcome.state != "left":
                continue
            ready, tasks = self._ready(outcome.item), self._tasks(outcome.item)
            if ready is None:
                outcome.state = "skipped"
                outcome.error = "a parent failed"
            elif ready and (active + tasks <= self.workers or active == 0):
                if tasks > 1 and self.kind == "debug":
                    raise ValueError(f"run {outcome.item.label} is data-parallel (world_size="
                                     f"{tasks}); the debug executor runs one process: use "
                                     "--executor local or slurm")
                if self.kind == "local":
                    executor.update_parameters(tasks_per_node=tasks)
                outcome.job = executor.submit(*self._call_flat(outcome.item))
                outcome.state = "submitted"
                active += tasks

    # -- following -------------------------------------------------------------------------
    def _squeue(self) -> dict[str, str] | None:
        """Active Slurm jobs (array tasks expanded) → state; ``None`` if squeue fails."""
        try:
            out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True,
                                 text=True, timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        return dict(line.split(None, 1) for line in out.splitlines() if line.strip())

    def _update(self) -> None:
        queue = self._squeue() if self.kind == "slurm" else None
        for outcome in self.outcomes.values():
            if outcome.state not in ("submitted", "running") or outcome.job is None:
                continue
            job = outcome.job
            if self.kind == "debug":
                self._collect(outcome)
            elif self.kind == "local":
                if job.done():
                    self._collect(outcome)
                else:
                    outcome.state = "running"
            elif not outcome.grouped and _has_result(job):  # Slurm: the result file, never
                self._collect(outcome)                         # sacct (often absent)
            elif queue is not None:
                state = queue.get(str(job.job_id))
                if state is not None:
                    outcome.state = "running" if state == "RUNNING" else "submitted"
                    continue
                if outcome.grouped:  # its job ended: the cache says which runs it trained
                    self._from_cache(outcome)
                    continue
                time.sleep(1.0)  # left the queue: the result file may still be landing
                if _has_result(job):
                    self._collect(outcome)
                else:
                    outcome.state = "failed"
                    outcome.error = "the job left the queue without a result (cancelled or killed)"
                    self._report_failure(outcome)

    def _from_cache(self, outcome: Outcome) -> None:
        item = outcome.item
        if isinstance(item, ResolveStep) or in_cache(item.key, Path(self.settings.runs_dir)):
            outcome.state, outcome.result = "done", {}
        else:
            outcome.state = "failed"
            outcome.error = "its job ended without it in the run cache"
            self._report_failure(outcome)

    def _collect(self, outcome: Outcome) -> None:
        try:
            outcome.result = outcome.job.results()[0]  # a data-parallel job: rank 0's
            outcome.state = "done"
        except Exception as error:  # a failed job: report it, the others go on
            outcome.state = "failed"
            outcome.error = str(error).strip().splitlines()[-1][:300] if str(error) else repr(error)
            self._report_failure(outcome)

    def _report_failure(self, outcome: Outcome) -> None:
        self.echo(f"FAILED {outcome.item.label} ({outcome.item.key}): {outcome.error}; "
                  f"log: {outcome.logs()}")

    def counts(self) -> dict:
        out = {s: 0 for s in ("submitted", "running", "done", "failed", "skipped", "left")}
        for outcome in self.outcomes.values():
            out[outcome.state] += 1
        return out

    def report(self, force: bool = False) -> None:
        counts = self.counts()
        if force or counts != self._last_report:
            self._last_report = counts
            self.echo(f"[sweep {self.plan.preset.name}] " + ", ".join(
                f"{n} {state}" for state, n in counts.items()) + f" of {len(self.outcomes)}")

    def run(self, wait: bool = True) -> dict:
        """Submit, then follow until every job has ended; returns :meth:`counts`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.report(force=True)
        if self.kind == "slurm":
            self.submit_slurm()
            if not wait:
                return self.counts()
            executor = None
        else:
            executor = self._executor()
        while True:
            if executor is not None:
                self._submit_ready(executor)
            self.report()
            if not any(o.state in ("submitted", "running") for o in self.outcomes.values()):
                if executor is None or not any(o.state == "left" for o in
                                               self.outcomes.values()):
                    break
            self._update()
            if any(o.state in ("submitted", "running") for o in self.outcomes.values()):
                time.sleep(0 if self.kind == "debug" else self.poll_s)
        self.report(force=True)
        for outcome in self.outcomes.values():
            if outcome.state == "failed":
                self.echo(f"failed: {outcome.item.label}: log {outcome.logs()}")
            elif outcome.state == "skipped":
                self.echo(f"not run (a parent failed): {outcome.item.label}")
        return self.counts()
