"""The authors' released networks measured with this library's metrics, beside
the numbers published for them (issue 15, item 4)::

    result = evaluate_released(runs_dir=..., data_root=..., device="cuda")
    result.rows      # tidy rows: release, dataset, metric, value, unit, n, source
    result.missing   # a sentence per model file or dataset that is missing
    comparison_table(result.rows)

Each imported release (:mod:`lib.weights`) is scored on its own test set:
clean top-1 error and NLL (:func:`lib.evaluation.clean.clean_evaluation`); a
model of a §4 target (CIFAR-10, CIFAR-100, Tiny ImageNet) also by MSP OOD
detection on the paper's OOD sets (:mod:`lib.evaluation.ood_sets`;
per set, and Table 4's mean) and by the raw RMS and MAD calibration errors
(:func:`lib.metrics.calibration_error`, design.md §7; the released models
trained on every training image, so no temperature is tuned); an adversarially
tuned one by PGD-20 (ε = 8/255, step 2/255, random start) and AutoAttack
accuracy. Every evaluation is memoized (:mod:`lib.evaluation.memo`).

The published numbers (:data:`PUBLISHED`) come from the paper's tables, the
official training logs (the last line of each ``*_training_results.csv`` of
hendrycks/pre-training at 10cd02a) and RobustBench's model card. The paper's
Tables 4 and 5 average five runs of models like these, not these files
(Table 5's calibration models also train without 10% of the data).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from lib.attacks.autoattack import ORIGINAL_ITERATIONS, SQUARE_QUERIES
from lib.data.errors import DatasetNotFoundError
from lib.evaluation.clean import clean_evaluation
from lib.evaluation.memo import memoized
from lib.evaluation.ood import ood_rows
from lib.evaluation.ood_sets import PAPER_OOD, PAPER_OOD_SAMPLES, ood_set_specs, with_target_sets
from lib.evaluation.robustness import autoattack_on, pgd_accuracy
from lib.metrics import calibration_error, softmax, top1_wrong
from lib.training.engine import predict_logits
from lib.training.run_config import EvalDataSpec
from lib.releases import RELEASES, get_release, released_run
from lib.weights import imported_run, missing_imports

OURS = "this library"
UNCERTAINTY_TARGETS = ("cifar10", "cifar100", "tiny_imagenet")  # paper §4


@dataclass(frozen=True)
class Published:
    """A number published for a release: ``metric`` (as in the rows), ``value``
    in percent, ``source`` (``"paper"``, ``"official log"``, ``"RobustBench"``),
    ``where`` exactly, and ``n``: the images it was measured on, where known
    (0: not stated)."""

    metric: str
    value: float
    source: str
    where: str
    n: int = 0


# The official logs test on the whole test set: CIFAR's 10,000 images, ImageNet 32×32's
# 50,000 validation images (ImageNetDS(train=False)), Tiny ImageNet's 10,000 validation images.
LOG_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "imagenet32": 50_000,
              "tiny_imagenet": 10_000}


def _log(path: str, error: float, dataset: str) -> Published:
    return Published("test_error", error, "official log",
                     f"hendrycks/pre-training {path}, last epoch", LOG_IMAGES[dataset])


def _paper(metric: str, value: float, table: str) -> Published:
    return Published(metric, value, "paper", table)


_RB = "RobustBench model card, Hendrycks2019Using (Linf)"
PUBLISHED: dict[str, tuple[Published, ...]] = {
    "imagenet32-wrn-40-2": (
        _log("downsampled_train/snapshots/40_2/imagenet_wrn_baseline_training_results.csv",
             50.80, "imagenet32"),),
    "cifar10-tuned-wrn-40-2": (
        _log("uncertainty/CIFAR/snapshots/tuned/cifar10_wrn_baseline_training_results.csv",
             3.64, "cifar10"),
        _paper("auroc", 94.5, "Table 4 (mean of five runs)"),
        _paper("aupr", 73.5, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 2.9, "Table 5"),
        _paper("mad_calibration_error", 1.2, "Table 5")),
    "cifar100-tuned-wrn-40-2": (
        _log("uncertainty/CIFAR/snapshots/tuned/cifar100_wrn_baseline_training_results.csv",
             20.82, "cifar100"),
        _paper("auroc", 83.1, "Table 4 (mean of five runs)"),
        _paper("aupr", 52.7, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 3.6, "Table 5"),
        _paper("mad_calibration_error", 2.5, "Table 5")),
    "cifar10-baseline-wrn-40-2": (
        _log("uncertainty/CIFAR/snapshots/baseline/cifar10_wrn_baseline_training_results.csv",
             5.32, "cifar10"),
        _paper("auroc", 91.5, "Table 4 (mean of five runs)"),
        _paper("aupr", 63.4, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 6.4, "Table 5"),
        _paper("mad_calibration_error", 2.9, "Table 5")),
    "cifar100-baseline-wrn-40-2": (
        _log("uncertainty/CIFAR/snapshots/baseline/cifar100_wrn_baseline_training_results.csv",
             23.91, "cifar100"),
        _paper("auroc", 69.4, "Table 4 (mean of five runs)"),
        _paper("aupr", 29.7, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 13.3, "Table 5"),
        _paper("mad_calibration_error", 10.3, "Table 5")),
    "tiny-imagenet-baseline-wrn-40-2": (
        _log("uncertainty/TinyImageNet/snapshots/baseline/wrn_baseline_training_results.csv",
             36.48, "tiny_imagenet"),
        _paper("auroc", 71.8, "Table 4 (mean of five runs)"),
        _paper("aupr", 30.8, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 8.5, "Table 5"),
        _paper("mad_calibration_error", 7.0, "Table 5")),
    "tiny-imagenet-tuned-wrn-40-2": (
        _log("uncertainty/TinyImageNet/snapshots/tune/wrn_baseline_training_results.csv",
             34.51, "tiny_imagenet"),
        _paper("auroc", 73.9, "Table 4 (mean of five runs)"),
        _paper("aupr", 31.0, "Table 4 (mean of five runs)"),
        _paper("rms_calibration_error", 4.2, "Table 5"),
        _paper("mad_calibration_error", 2.9, "Table 5")),
    "imagenet32-adversarial-wrn-28-10": (
        _log("robustness/adversarial/snapshots/imagenet_unt_10/"
             "imagenet_wrn_baseline_training_results.csv (clean images)", 70.25, "imagenet32"),),
    "robustbench-hendrycks2019using-cifar10": (
        _paper("clean_accuracy", 87.1, "Table 3"), _paper("pgd20_accuracy", 57.4, "Table 3"),
        _log("robustness/adversarial/snapshots/tune/cifar10wrn_baseline_training_results.csv "
             "(clean images)", 12.89, "cifar10"),
        Published("clean_accuracy", 87.11, "RobustBench", _RB),
        Published("autoattack_accuracy", 54.92, "RobustBench", _RB)),
    "robustbench-hendrycks2019using-cifar100": (
        _paper("clean_accuracy", 59.2, "Table 3"), _paper("pgd20_accuracy", 33.5, "Table 3"),
        _log("robustness/adversarial/snapshots/tune/cifar100wrn_baseline_training_results.csv "
             "(clean images)", 40.77, "cifar100"),
        Published("clean_accuracy", 59.23, "RobustBench", _RB),
        Published("autoattack_accuracy", 28.42, "RobustBench", _RB)),
}


@dataclass(frozen=True)
class ReleasedSettings:
    """How much to measure: ``test_size`` test images (``None`` = all,
    class-stratified otherwise; a source model's held-out test images, at most
    ``test_size`` of them); ``ood_samples`` per OOD set; PGD-20 on
    ``attack_size`` and AutoAttack on ``autoattack_size`` test images
    (``None`` = all) with ``autoattack_iterations`` (the original's strength)."""

    test_size: int | None = None
    ood_samples: int = 2000
    attack_size: int | None = 1000
    autoattack_size: int | None = 1000
    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 20
    autoattack_iterations: int = ORIGINAL_ITERATIONS
    square_queries: int = SQUARE_QUERIES
    seed: int = 0


@dataclass
class ReleasedEvaluation:
    """The rows of :func:`evaluate_released` and what could not be measured."""

    rows: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def published_rows(name: str) -> list[dict]:
    """The numbers published for release ``name``, as rows."""
    dataset = get_release(name).dataset.name
    return [dict(release=name, dataset=dataset, metric=p.metric, value=p.value, unit="%",
                 source=p.source, where=p.where, n=p.n) for p in PUBLISHED.get(name, ())]


def _test_spec(name: str, settings: ReleasedSettings) -> EvalDataSpec:
    config = released_run(name)
    if get_release(name).source:  # the source's held-out test images, as the pre-training page
        track = config.track
        return track if settings.test_size is None else replace(
            track, size=min(track.size, settings.test_size))
    return EvalDataSpec(config.data.dataset, size=settings.test_size)


def _measure(name, run, settings, device, root, runs_dir, missing) -> list[dict]:
    r = get_release(name)
    test = _test_spec(name, settings)
    rows = []

    def add(metric, value, n, unit="%", **axes):
        rows.append(dict(release=name, dataset=r.dataset.name, metric=metric,
                         value=float(value), unit=unit, n=int(n), source=OURS, **axes))

    clean = clean_evaluation(run, test, device, root, runs_dir)
    add("test_error", clean["error"], clean["n"])
    add("test_nll", clean["nll"], clean["n"], unit="nats")
    if r.objective == "adversarial" and not r.source:
        add("clean_accuracy", 100 - clean["error"], clean["n"])
        rows += _robustness(name, run, settings, device, root, runs_dir)
    elif r.dataset.name in UNCERTAINTY_TARGETS:
        rows += _calibration(name, run, test, device, root, runs_dir)
        rows += _ood(name, run, test, settings, device, root, runs_dir, missing)
    return rows


def _calibration(name, run, test, device, root, runs_dir) -> list[dict]:
    def compute() -> dict:
        data = test.build(root)
        logits = predict_logits(run.model, data, device)
        confidence, correct = softmax(logits).max(1), ~top1_wrong(logits, data.labels.numpy())
        return {"rms": calibration_error(confidence, correct, norm="l2"),
                "mad": calibration_error(confidence, correct, norm="l1"), "n": len(data)}

    result = memoized("released_calibration", run, [test], {}, compute, device=device,
                      runs_dir=runs_dir)
    dataset = get_release(name).dataset.name
    return [dict(release=name, dataset=dataset, metric=f"{m}_calibration_error",
                 value=100 * result[m], unit="%", n=result["n"], source=OURS)
            for m in ("rms", "mad")]


def _ood(name, run, test, settings, device, root, runs_dir, missing) -> list[dict]:
    """MSP AUROC / AUPR / FPR95 (%) per paper OOD set, then their mean over
    the sets (Table 4) when every set was there (a missing one is named in
    ``missing``)."""
    dataset = get_release(name).dataset.name
    specs = ood_set_specs(dataset, with_target_sets(PAPER_OOD, dataset),
                          min(PAPER_OOD_SAMPLES, settings.ood_samples))
    rows = []
    for spec in specs:
        try:
            scored = ood_rows(run, test, [spec], device, root, scores=("msp",),
                              runs_dir=runs_dir)
        except DatasetNotFoundError as error:
            missing.append(f"{name}: OOD set {spec.name!r} not scored, so no mean over the "
                           f"paper's sets: {error}")
            continue
        rows += [dict(release=name, dataset=dataset, metric=r["metric"],
                      value=100 * r["value"], unit="%", n=r["n_in"], ood_set=r["ood_set"],
                      source=OURS) for r in scored]
    frame = pd.DataFrame(rows)
    if len(set(frame.get("ood_set", ()))) < len(specs):
        return rows
    for metric, values in frame.groupby("metric", sort=False)["value"]:
        rows.append(dict(release=name, dataset=dataset, metric=metric,
                         value=float(np.mean(values)), unit="%", n=int(frame.n.iloc[0]),
                         ood_set="mean", source=OURS))
    return rows


def _robustness(name, run, settings, device, root, runs_dir) -> list[dict]:
    dataset = get_release(name).dataset
    rows = []
    for metric, size in (("pgd20_accuracy", settings.attack_size),
                         ("autoattack_accuracy", settings.autoattack_size)):
        spec = EvalDataSpec(dataset, size=size, seed=settings.seed)

        def compute(metric=metric, spec=spec) -> dict:
            data = spec.build(root)
            if metric == "pgd20_accuracy":
                value = pgd_accuracy(run.model, data, device, settings.eps, settings.step_size,
                                     settings.steps, seed=settings.seed)
            else:
                value = autoattack_on(run.model, data, settings.eps, seed=settings.seed,
                                      iterations=settings.autoattack_iterations,
                                      square_queries=settings.square_queries)
            return {"accuracy": value, "n": len(data)}

        params = ({"eps": settings.eps, "step_size": settings.step_size, "steps": settings.steps}
                  if metric == "pgd20_accuracy" else
                  {"eps": settings.eps, "iterations": settings.autoattack_iterations,
                   "square_queries": settings.square_queries})
        result = memoized(f"released_{metric}", run, [spec], {**params, "seed": settings.seed},
                          compute, device=device, runs_dir=runs_dir)
        rows.append(dict(release=name, dataset=dataset.name, metric=metric,
                         value=100 * result["accuracy"], unit="%", n=result["n"], source=OURS))
    return rows


def evaluate_released(names=None, *, runs_dir=None, data_root=None, device="cpu",
                      settings: ReleasedSettings = ReleasedSettings()) -> ReleasedEvaluation:
    """Measure every imported release of ``names`` (default: all of
    :data:`lib.releases.RELEASES`) and add the published numbers of each. A
    release that is not imported, or whose data is missing from ``data_root``,
    gets its published rows only and a sentence in ``missing`` saying which
    file or dataset it is and how to get it."""
    result = ReleasedEvaluation()
    for name in list(RELEASES) if names is None else names:
        result.rows += published_rows(name)
        absent = missing_imports([released_run(name)], runs_dir)
        if absent:
            result.missing += absent
            continue
        run = imported_run(name, runs_dir, device)
        try:
            result.rows += _measure(name, run, settings, device, data_root, runs_dir,
                                    result.missing)
        except DatasetNotFoundError as error:
            result.missing.append(f"{name}: not measured, a dataset is missing: {error}")
    return result


def comparison_table(rows) -> pd.DataFrame:
    """One row per (release, metric, OOD set), one column per source: this
    library's value beside the paper's, the official log's and RobustBench's."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if "ood_set" not in frame:
        frame["ood_set"] = np.nan
    frame["ood_set"] = frame["ood_set"].fillna("")
    table = frame.pivot_table(index=["release", "metric", "ood_set"], columns="source",
                              values="value", aggfunc="first", sort=False)
    order = [c for c in (OURS, "paper", "official log", "RobustBench") if c in table.columns]
    return table[order]
