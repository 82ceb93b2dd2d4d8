"""The sweep runner without a cluster (issue 16, items 1 and 2): the plan
(every section's runs once, parents first, deferred runs resolved in a later
wave), its cost estimate, and the debug and local executors on tiny runs
(tests/test_sweep_slurm.py runs it on a real Slurm)."""

from __future__ import annotations

import json

import pytest

from lib.presets import PRESETS, DataSpec, Recipe
from lib.sections import get_section, section_names
from lib.sections.base import DeferredRun
from lib.sweep.__main__ import main as sweep_main
from lib.sweep.executor import SweepRunner
from lib.sweep.plan import Plan, PlannedRun, build_plan, format_summary, run_images, summary
from lib.sweep.plan import training_images, workload
from lib.sweep.throughput import ThroughputTable, load_tables
from lib.sweep.worker import WorkerSettings
from lib.training import RunConfig, TrainingDataSpec


@pytest.mark.parametrize("preset", ["smoke", "quick", "paper"])
def test_plan_holds_every_sections_runs_once_parents_first(preset):
    plan = build_plan(preset)
    keys = [r.key for r in plan.runs]
    assert len(keys) == len(set(keys))
    position = {k: i for i, k in enumerate(keys)}
    for run in plan.runs:
        if run.parent is not None:
            assert position[run.parent] < position[run.key]
            assert plan.runs[position[run.parent]].wave < run.wave
    for name in section_names():
        planned = get_section(name).planned(preset)
        configs = {e.key() for e in planned if not isinstance(e, DeferredRun)}
        assert configs == {r.key for r in plan.section_runs(name)}
        deferred = [e.label for e in planned if isinstance(e, DeferredRun)]
        steps = [s for s in plan.resolves if s.section == name]
        if deferred:  # Forward/GLC stage 2: one resolve step after all the section's runs
            (step,) = steps
            assert list(step.deferred) == deferred
            assert step.wave > max(r.wave for r in plan.section_runs(name))
            assert set(step.parents) == configs
        else:
            assert not steps
    waves = plan.waves()
    assert [w[0].wave for w in waves] == sorted({i.wave for w in waves for i in w})


def test_label_noise_has_deferred_runs_at_smoke():
    (step,) = build_plan("smoke", ["label_noise"]).resolves
    assert step.section == "label_noise" and len(step.deferred) == 12


def test_training_images_equal_the_built_training_sets():
    """The estimate of each smoke run's epoch size (subsets, hold-outs,
    imbalance, oversampling, SMOTE, GLC's trusted split) is exact."""
    for run in build_plan("smoke").runs:
        train, _ = run.config.data.build(None)
        assert training_images(run.config) == len(train), run.label


def test_paper_sizes_come_from_the_split_sizes():
    plan = build_plan("paper", ["imbalance"])
    sizes = {training_images(r.config) for r in plan.runs
             if r.config.data.dataset.name == "cifar10" and not r.config.data.transforms}
    assert sizes <= {50_000}
    adversarial = [r for r in build_plan("paper", ["adversarial"]).runs
                   if r.config.objective == "adversarial"]
    for run in adversarial:  # PGD-10 training: 11 forward-backward passes an image
        assert run_images(run.config) == 11 * training_images(run.config) * \
            run.config.recipe.epochs


def test_estimated_hours_from_a_throughput_table():
    plan = build_plan("smoke", ["pretraining"])
    measured = ThroughputTable("cpu", "test", tuple(
        {"architecture": a, "in_channels": c, "image_size": s, "batch_size": 128,
         "images_per_s": 100.0} for a, c, s in {workload(r.config) for r in plan.runs}))
    missing = ThroughputTable("cuda", "test", ())
    rows = summary(plan, [measured, missing])
    total = rows[-1]
    assert total["runs"] == 3 and total["images"] == sum(run_images(r.config) for r in plan.runs)
    assert total["cpu hours"] == pytest.approx(total["images"] / 100.0 / 3600)
    assert total["cuda hours"] is None
    assert "not measured" in format_summary(plan, [measured, missing])


def test_the_recorded_cpu_table_covers_every_presets_workloads():
    (cpu,) = [t for t in load_tables() if t.device == "cpu"]
    for preset in PRESETS:
        for run in build_plan(preset).runs:
            assert cpu.images_per_s(workload(run.config), run.config.recipe.batch_size), \
                (preset, workload(run.config))


def test_plan_command_prints_the_paper_table(capsys):
    assert sweep_main(["plan", "--preset", "paper"]) == 0
    out = capsys.readouterr().out
    plan = build_plan("paper")
    training = [n for n in section_names() if plan.section_runs(n)]
    assert {"pretraining", "label_noise", "imbalance", "adversarial"} <= set(training)
    for name in [*training, "total (each run once)", "cpu hours"]:
        assert f"| {name} |" in out or name in out
    with pytest.raises(SystemExit):
        sweep_main(["plan", "--preset", "nope"])


# -- executors on tiny runs ------------------------------------------------------------------

def tiny(seed=1, epochs=2, init=None, per_class=12, label=""):
    data = DataSpec.of("fractal", num_classes=4, per_class=per_class, size=16, channels=1,
                       seed=3)
    return RunConfig("wrn-10-1", 1, TrainingDataSpec(data), Recipe(epochs=epochs, lr=0.05,
                                                                   batch_size=16),
                     seed=seed, init=init, label=label)


def toy_plan(*configs) -> Plan:
    depth = lambda c: 0 if c.init is None else 1 + depth(c.init)  # noqa: E731
    return Plan(PRESETS["smoke"], tuple(PlannedRun(c.key(), c, ("toy",), depth(c))
                                        for c in configs), ())


def test_debug_executor_trains_missing_runs_reports_failures_and_goes_on(tmp_path):
    parent, other = tiny(label="parent"), tiny(seed=2, label="other")
    child = tiny(epochs=1, init=parent, label="child")
    broken = tiny(seed=3, per_class=-1, label="broken")  # fails to build its data
    orphan = tiny(epochs=1, init=broken, label="orphan")
    plan = toy_plan(parent, other, broken, child, orphan)
    lines = []
    settings = WorkerSettings(str(tmp_path / "runs"), str(tmp_path), "cpu", 1)
    runner = SweepRunner(plan, "debug", settings, tmp_path / "logs", echo=lines.append)
    counts = runner.run()
    assert counts["done"] == 3 and counts["failed"] == 1 and counts["skipped"] == 1
    failure = next(line for line in lines if line.startswith("FAILED broken"))
    assert "log:" in failure and str(tmp_path / "logs") in failure
    assert any("not run (a parent failed): orphan" in line for line in lines)
    for config in (parent, other, child):
        assert (tmp_path / "runs" / config.key() / "model.pt").exists()

    again = SweepRunner(toy_plan(parent, other, child), "debug", settings, tmp_path / "logs",
                        echo=lines.append)
    assert all(o.state == "done" for o in again.outcomes.values())  # nothing resubmitted
    assert again.run()["done"] == 3


def test_local_executor_runs_parallel_workers_into_one_cache(tmp_path):
    parent = tiny(label="parent")
    plan = toy_plan(parent, tiny(seed=2, label="other"), tiny(epochs=1, init=parent,
                                                              label="child"))
    settings = WorkerSettings(str(tmp_path / "runs"), str(tmp_path), "cpu", 1)
    runner = SweepRunner(plan, "local", settings, tmp_path / "logs", workers=2, poll_s=0.2,
                         echo=lambda line: None)
    assert runner.run() == {"submitted": 0, "running": 0, "done": 3, "failed": 0,
                            "skipped": 0, "left": 0}
    for outcome in runner.outcomes.values():
        assert outcome.result["from_cache"] is False
        log = (tmp_path / "runs" / outcome.item.key / "train.log").read_text()
        assert log.count(" epoch 1/") == 1
        assert json.loads((tmp_path / "runs" / outcome.item.key / "config.json").read_text())


def test_local_executor_trains_a_data_parallel_parent_then_its_one_process_child(tmp_path):
    """A run with ``world_size=2`` is one job of two tasks joined into one
    process group (gloo); its child, one process, finds it by its key."""
    from dataclasses import replace

    parent = replace(tiny(label="ddp parent"), world_size=2)
    child = tiny(epochs=1, init=parent, label="child")
    assert parent.key() != tiny(label="ddp parent").key()
    settings = WorkerSettings(str(tmp_path / "runs"), str(tmp_path), "cpu", 1)
    runner = SweepRunner(toy_plan(parent, child), "local", settings, tmp_path / "logs",
                         workers=2, poll_s=0.2, echo=lambda line: None)
    assert runner.run()["done"] == 2
    manifest = json.loads((tmp_path / "runs" / parent.key() / "model.pt.json").read_text())
    assert manifest["world_size"] == 2
    log = (tmp_path / "runs" / parent.key() / "train.log").read_text()
    assert log.count(" epoch 1/") == 1  # rank 0 alone writes
    assert (tmp_path / "runs" / child.key() / "model.pt").exists()


def test_debug_executor_refuses_a_data_parallel_run(tmp_path):
    from dataclasses import replace

    plan = toy_plan(replace(tiny(), world_size=2))
    settings = WorkerSettings(str(tmp_path / "runs"), str(tmp_path), "cpu", 1)
    runner = SweepRunner(plan, "debug", settings, tmp_path / "logs", echo=lambda line: None)
    with pytest.raises(ValueError, match="world_size=2.*--executor local or slurm"):
        runner.run()


def test_source_world_size_reaches_the_sources_of_the_plan():
    from lib.presets import get_run_preset

    plan = build_plan(get_run_preset("smoke", source_world_size=2), ["pretraining"])
    sources = [r for r in plan.runs if r.config.label.startswith("pretrain[")]
    assert sources and all(r.config.world_size == 2 for r in sources)
    others = [r for r in plan.runs if r not in sources]
    assert others and all(r.config.world_size == 1 for r in others)
    assert {r.parent for r in others} - {None} == {r.key for r in sources}
