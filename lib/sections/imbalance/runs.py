"""§3.2's plan and run: (target, γ, seed) × method × arm, then the
class-exclusion check's Pre-Training cells, trained through the run context;
each run scored on its target's balanced test set by
:func:`lib.metrics.imbalance_errors` (memoized)."""

from __future__ import annotations

from functools import cache

from lib.dry_run import settings_at
from lib.evaluation.memo import memoized
from lib.experiments import target_test_data
from lib.metrics.imbalance import imbalance_errors
from lib.presets import DataSpec, Preset
from lib.sections.imbalance.methods import METHODS, Context
from lib.sections.imbalance.settings import SETTINGS
from lib.training import EvalDataSpec, predict_logits


def plan(preset: Preset) -> list:
    """Every run of the section: (target, γ, seed) × method × arm, then the
    class-exclusion check's Pre-Training cells."""
    settings = settings_at(SETTINGS, preset)
    context = Context(preset, settings)
    return [config for cell in settings.cells() for name in settings.method_names()
            for arm in METHODS[name].arms for config in METHODS[name].plan(context, arm, cell)
            ] + [config for cell in settings.check_cells()
                 for config in METHODS["pretraining"].plan(context, "pretrained", cell)]


def evaluate_run(run, test: EvalDataSpec, class_sizes, device, *, root=None, runs_dir=None,
                 images=None) -> dict:
    """:func:`imbalance_errors` of ``run`` on the test set ``test`` (a spec),
    memoized on the run, the spec and the class sizes: a re-built page
    re-evaluates nothing. ``images()`` returns the built test set (default:
    ``test.build(root)``), called only when the memo misses."""
    def compute() -> dict:
        data = images() if images is not None else test.build(root)
        return imbalance_errors(predict_logits(run.model, data, device), data.labels.numpy(),
                                class_sizes)

    return memoized("imbalance_errors", run, [test], {"class_sizes": [int(n) for n in class_sizes]},
                    compute, device=device, runs_dir=runs_dir, version=2)


def result_entries(errors: dict, run, gamma: float) -> list[dict]:
    """A run's metric entries: total and minority error, per-class error, the
    training error of the last epoch (augmented batches, with dropout when the
    recipe has it) and the training set size."""
    common = dict(gamma=float(gamma), unit="%")
    entries = [{**common, "metric": "error", "value": errors["error"], "n": errors["n"]},
               {**common, "metric": "minority_error", "value": errors["minority_error"],
                "n": errors["minority_n"]}]
    entries += [{**common, "metric": "class_error", "class_index": c, "value": v, "n": k}
                for c, (v, k) in enumerate(zip(errors["class_error"], errors["class_n"]))
                if v is not None]
    train_size = run.info.get("train_size")
    if run.history:
        entries.append({**common, "metric": "final_train_error", "n": train_size,
                        "value": 100 * (1 - float(run.history[-1]["accuracy"]))})
    if train_size is not None:
        entries.append({"gamma": float(gamma), "metric": "train_size", "unit": "images",
                        "value": float(train_size)})
    return entries


def run(session) -> list[dict]:
    """Train (or load) every run of the section through ``session.train``
    (the class-exclusion check's after the target's sweep), evaluate each on
    its target's balanced test set, return the rows (the check's with its
    ``source``)."""
    settings = session.settings
    context = Context(session.preset, settings, session)
    rows: list[dict] = []
    for target in settings.targets:
        test = (target_test_data(session.preset, target) if settings.test_size is None
                else EvalDataSpec(DataSpec.of(target), size=settings.test_size))
        images = cache(lambda test=test: test.build(session.data_root))
        work = [(cell, name, arm) for cell in settings.cells() if cell["target"] == target
                for name in settings.method_names() for arm in METHODS[name].arms]
        work += [(cell, "pretraining", "pretrained") for cell in settings.check_cells()
                 if cell["target"] == target]
        for cell, name, arm in work:
            sizes = settings.class_sizes(target, cell["gamma"])
            trained = METHODS[name].train(context, arm, cell)
            errors = evaluate_run(trained, test, sizes, session.device,
                                  runs_dir=session.runs_dir, images=images)
            rows += session.rows(trained, result_entries(errors, trained, cell["gamma"]),
                                 dataset=target, method=name, arm=arm,
                                 source=cell.get("source", ""))
    return rows
