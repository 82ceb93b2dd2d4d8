"""Robustness to label corruption (paper §3.1, Table 1, Figures 1 and 2).

A trusted fraction of the training set keeps its clean labels; the rest is
corrupted at strength ``s`` with ``C = (1 − s)·I + s·11ᵀ/K`` (uniform, see
:mod:`lib.noise`). Every method is trained at s = 0, 0.1, …, 1.0 (the paper
preset; coarser at quick/smoke) in two arms — from scratch and fine-tuned
from the pre-trained source — and summarised by the area under its test-error
curve (percent × strength, trapezoid rule; :func:`lib.metrics.area_under_error_curve`).

Methods (registry :data:`METHODS`, name → :class:`Method`):

* ``no_correction``: plain cross-entropy on the noisy labels.
* ``forward`` (Patrini et al. 2017): stage 1 *is* the ``no_correction`` run
  (the same network trained on the noisy labels, so a cache hit); C is
  estimated from its softmax on the training set (97th-percentile anchors,
  :func:`lib.noise.estimate_forward_matrix`); stage 2 retrains from the same
  initialisation with the loss on softmax·C. In the pre-trained arm stage 1
  therefore uses the no-correction learning rate and stage 2 the correction's.
* ``glc_5`` / ``glc_10`` (Hendrycks et al. 2018), 5% / 10% trusted: stage 1
  trains on the untrusted part; C is the mean softmax over the trusted examples
  of each clean class (:func:`lib.noise.estimate_glc_matrix`); stage 2
  retrains from the same initialisation on all the data — corrected loss on the
  untrusted part, plain cross-entropy on the trusted part. Both stages use the
  correction recipe, as the official code uses one learning rate for both.

Recipes (paper §3.1): from scratch 100 epochs at lr 0.1 with dropout 0.3 for
every method; pre-trained 10 epochs without dropout, lr 0.001 without a
correction and 0.01 with one. Every stage goes through the run cache
(:func:`lib.training.train_or_load`), so an interrupted sweep resumes and a
finished one re-renders without training. The corruption (and the trusted
split) is drawn from the run's seed: ``TrainingDataSpec.split_seed = seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lib.evaluation.memo import memoized
from lib.experiments import finetune_run, scratch_run, target_test_data
from lib.metrics import area_under_error_curve, softmax
from lib.noise import estimate_forward_matrix, estimate_glc_matrix, matrix_param
from lib.presets import DataSpec, Preset, Recipe
from lib.registry import Registry
from lib.training import (
    RunConfig,
    TrainedRun,
    TrainingDataSpec,
    predict_logits,
    train_or_load,
)
from lib.validation import check_choice

ARMS = ("scratch", "pretrained")
_VIEWS_KEPT = 4  # built training views a study keeps (one strength's worth)
SECTION = "label_noise"


@dataclass(frozen=True)
class LabelNoiseSettings:
    """The §3.1 sweep at one preset.

    ``strengths``: corruption strengths s (the paper: 0, 0.1, …, 1.0);
    ``train_size``: class-stratified training subset (``None`` = all);
    ``scratch``: the from-scratch recipe of every method; ``finetune``: the
    pre-trained arm without a correction; ``finetune_corrected``: the
    pre-trained arm with Forward or GLC; ``long_run_epochs`` and
    ``long_run_strength``: Figure 1's long from-scratch run; ``seeds``: repeats.
    """

    targets: tuple
    strengths: tuple
    train_size: int | None
    scratch: Recipe
    finetune: Recipe
    finetune_corrected: Recipe
    long_run_epochs: int
    seeds: tuple = (0,)
    methods: tuple = ("no_correction", "forward", "glc_5", "glc_10")
    long_run_strength: float = 0.6
    kind: str = "uniform"
    forward_percentile: float = 97.0
    note: str = ""

    def __post_init__(self):
        s = list(self.strengths)
        if len(s) < 2 or s != sorted(set(s)) or s[0] < 0 or s[-1] > 1:
            raise ValueError(f"strengths must be >= 2 distinct increasing values in [0, 1], got {s}")
        for name in self.methods:
            check_choice("method", name, METHODS)

    @property
    def trusted_fractions(self) -> tuple:
        return tuple(sorted({METHODS[m].trusted_fraction for m in self.methods} - {0.0}))

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        return "\n".join([
            f"targets            : {list(self.targets)}",
            f"strengths          : {list(self.strengths)} ({self.kind} corruption)",
            f"training set       : {self.train_size or 'all'} images per target",
            f"trusted fractions  : {list(self.trusted_fractions)}",
            f"scratch            : {self.scratch}",
            f"pre-trained        : {self.finetune}",
            f"pre-trained + corr.: {self.finetune_corrected}",
            f"Figure 1 long run  : {self.long_run_epochs} epochs from scratch at "
            f"s = {self.long_run_strength}",
            f"seeds              : {list(self.seeds)}",
            f"methods            : {list(self.methods)}",
        ] + ([f"note               : {self.note}"] if self.note else []))


# -- methods --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    """A label-noise method: ``run(study, arm, strength, seed) -> TrainedRun``
    (its final model), the paper's name, and its trusted fraction."""

    name: str
    title: str
    run: Callable[..., TrainedRun]
    trusted_fraction: float = 0.0
    stages: int = 1  # training runs per (arm, strength, seed), stage 1 included


METHODS: Registry[Method] = Registry("method")


def register_method(name: str, title: str, trusted_fraction: float = 0.0, stages: int = 1):
    def wrap(fn):
        METHODS.add(name, Method(name, title, fn, trusted_fraction, stages))
        return fn
    return wrap


@dataclass
class LabelNoiseStudy:
    """One target of the §3.1 sweep: builds the run configs of every stage and
    trains or loads them (``runs_dir`` ``None`` = the default run cache)."""

    preset: Preset
    settings: LabelNoiseSettings
    target: str
    root: Path | None = None
    device: torch.device | str = "auto"
    runs_dir: Path | None = None
    verbose: bool = True
    _test: object = field(default=None, repr=False)
    _views: dict = field(default_factory=dict, repr=False)

    # data ---------------------------------------------------------------------------------
    def data(self, strength: float, seed: int, trusted_fraction: float = 0.0,
             part: str = "all") -> TrainingDataSpec:
        """The corrupted training set; ``corrupt_labels`` is the last transform
        (after the stratified subset), so the trusted examples come first."""
        base = TrainingDataSpec(DataSpec.of(self.target), size=self.settings.train_size,
                                split_seed=int(seed))
        return base.with_transform("corrupt_labels", kind=self.settings.kind,
                                   strength=float(strength),
                                   trusted_fraction=float(trusted_fraction), part=part)

    def view(self, spec: TrainingDataSpec):
        """The built training view of ``spec``; the last few are kept, so the two
        arms of one strength share them (the sweep loops over arms innermost)."""
        if spec not in self._views:
            if len(self._views) >= _VIEWS_KEPT:
                self._views.pop(next(iter(self._views)))
            self._views[spec] = spec.build(self.root)[0]
        return self._views[spec]

    def test_set(self):
        if self._test is None:
            self._test = target_test_data(self.preset, self.target).build(self.root)
        return self._test

    # runs ---------------------------------------------------------------------------------
    def config(self, arm: str, seed: int, data: TrainingDataSpec, corrected: bool,
               tag: str, track: bool = False, recipe: Recipe | None = None,
               **changes) -> RunConfig:
        """The run config of one stage in ``arm`` ("scratch" | "pretrained")."""
        check_choice("arm", arm, ARMS)
        s = self.settings
        label = f"label_noise[{self.preset.name}:{self.target}:{arm}:{tag}:seed{seed}]"
        if arm == "scratch":
            return scratch_run(self.preset, seed, data=data, recipe=recipe or s.scratch,
                               track=track, target=self.target, label=label, **changes)
        return finetune_run(self.preset, seed, data=data,
                            recipe=recipe or (s.finetune_corrected if corrected else s.finetune),
                            track=track, target=self.target, label=label, **changes)

    def train(self, config: RunConfig) -> TrainedRun:
        return train_or_load(config, root=self.root, device=self.device,
                             runs_dir=self.runs_dir, verbose=self.verbose)

    def probabilities(self, run: TrainedRun, dataset) -> np.ndarray:
        return softmax(predict_logits(run.model, dataset, _device(self.device)))

    def test_error(self, run: TrainedRun) -> float:
        """Top-1 error on the clean test set, in percent; memoized on disk
        (:mod:`lib.evaluation.memo`), so a re-built page does not re-evaluate."""
        test, device = self.test_set(), _device(self.device)

        def compute() -> float:
            logits = predict_logits(run.model, test, device)
            return float(100.0 * np.mean(logits.argmax(1) != test.labels.numpy()))

        return memoized("clean_test_error", run.model, [test], {}, compute,
                        runs_dir=self.runs_dir, device=device)

    def method_run(self, method: str, arm: str, strength: float, seed: int) -> TrainedRun:
        check_choice("method", method, METHODS)
        return METHODS[method].run(self, arm, float(strength), int(seed))

    def long_run(self, seed: int) -> TrainedRun:
        """Figure 1: from scratch, no correction, ``long_run_epochs`` at
        ``long_run_strength``, the clean test error tracked every epoch."""
        s = self.settings
        recipe = replace(s.scratch, epochs=s.long_run_epochs)
        return self.train(self.config("scratch", seed, self.data(s.long_run_strength, seed),
                                      False, f"long_s{s.long_run_strength:g}", track=True,
                                      recipe=recipe))


def _device(device):
    from lib.devices import resolve_device

    return device if isinstance(device, torch.device) else resolve_device(device)


@register_method("no_correction", "No Correction")
def no_correction(study: LabelNoiseStudy, arm: str, strength: float, seed: int) -> TrainedRun:
    """Cross-entropy on the noisy labels."""
    return study.train(study.config(arm, seed, study.data(strength, seed), False,
                                    f"none_s{strength:g}"))


@register_method("forward", "Forward Correction", stages=2)
def forward(study: LabelNoiseStudy, arm: str, strength: float, seed: int) -> TrainedRun:
    """Forward correction (Patrini et al. 2017): C from the no-correction run's
    softmax on its training set, then retraining with softmax·C."""
    stage1 = no_correction(study, arm, strength, seed)
    data = study.data(strength, seed)
    matrix = estimate_forward_matrix(study.probabilities(stage1, study.view(data)),
                                     study.settings.forward_percentile)
    return study.train(study.config(arm, seed, data, True, f"forward_s{strength:g}",
                                    objective="forward_corrected",
                                    objective_params=(("matrix", matrix_param(matrix)),)))


def gold_loss_correction(study: LabelNoiseStudy, arm: str, strength: float, seed: int,
                         trusted_fraction: float) -> TrainedRun:
    """GLC (Hendrycks et al. 2018): stage 1 on the untrusted part; C = mean
    softmax over the trusted examples of each class; stage 2 on everything."""
    tag = f"glc{trusted_fraction:g}_s{strength:g}"
    stage1 = study.train(study.config(
        arm, seed, study.data(strength, seed, trusted_fraction, "untrusted"), True, tag + "_stage1"))
    trusted = study.view(study.data(strength, seed, trusted_fraction, "trusted"))
    matrix = estimate_glc_matrix(study.probabilities(stage1, trusted), trusted.labels.numpy(),
                                 trusted.num_classes)
    return study.train(study.config(
        arm, seed, study.data(strength, seed, trusted_fraction, "all"), True, tag,
        objective="glc",
        objective_params=(("matrix", matrix_param(matrix)), ("num_trusted", len(trusted)))))


for _percent in (5, 10):
    register_method(f"glc_{_percent}", f"GLC ({_percent}% Trusted)", _percent / 100, stages=2)(
        lambda study, arm, strength, seed, _f=_percent / 100:
        gold_loss_correction(study, arm, strength, seed, _f))


# -- settings per preset --------------------------------------------------------------------

SETTINGS: dict[str, LabelNoiseSettings] = {
    "smoke": LabelNoiseSettings(
        targets=("fashion_mnist",), strengths=(0.0, 1.0), train_size=200,
        scratch=Recipe(epochs=1, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=1, lr=0.05), finetune_corrected=Recipe(epochs=1, lr=0.05),
        long_run_epochs=3,
        note="two strengths and one epoch per run: checks the pipeline, shows nothing"),
    "quick": LabelNoiseSettings(
        targets=("fashion_mnist",), strengths=(0.0, 0.4, 0.8, 1.0), train_size=1000,
        # Batch size and rates chosen per arm by clean (s = 0) test error:
        # benchmarks/select_section_recipes.py, results/quick_section_recipes.csv.
        scratch=Recipe(epochs=12, lr=0.05, batch_size=32),
        finetune=Recipe(epochs=4, lr=0.0125, batch_size=32),
        finetune_corrected=Recipe(epochs=4, lr=0.0125, batch_size=32),
        long_run_epochs=30,
        note="4 of the paper's 11 strengths (the area is still over s in [0, 1]) and a "
             "1,000-image subset, to fit the page's 10-minute budget on 2 CPU cores; batch "
             "32 (at 128 an epoch of 1,000 images is 8 steps and the from-scratch arm stops "
             "far from convergence), and each arm's rate chosen by its clean error, the same "
             "grid for both (benchmarks/select_section_recipes.py): from scratch lr 0.05 "
             "without dropout, fine-tuned lr 0.0125 with and without a correction"),
    "paper": LabelNoiseSettings(
        targets=("cifar10", "cifar100"), strengths=tuple(round(0.1 * i, 1) for i in range(11)),
        train_size=None,
        scratch=Recipe(epochs=100, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=10, lr=0.001), finetune_corrected=Recipe(epochs=10, lr=0.01),
        long_run_epochs=200, seeds=(0,),
        note="the paper's settings; one run per cell (the paper reports no repeats for Table 1); "
             "Figure 1's 200 epochs use the cosine schedule (the paper's step drops are not "
             "in the engine)"),
}


def settings_for(preset: str | Preset) -> LabelNoiseSettings:
    """The §3.1 settings of ``preset`` (a name or a :class:`Preset`)."""
    name = preset if isinstance(preset, str) else preset.name
    check_choice("preset", name, SETTINGS)
    return SETTINGS[name]


def planned_runs(settings: LabelNoiseSettings) -> int:
    """Training runs a cold sweep trains (stage-1 cache hits not counted twice),
    Figure 1's long run and its pre-trained reference included."""
    per_cell = sum(METHODS[m].stages for m in settings.methods)
    if "forward" in settings.methods and "no_correction" in settings.methods:
        per_cell -= 1  # Forward's stage 1 is the no-correction run
    cells = len(settings.targets) * len(ARMS) * len(settings.strengths) * len(settings.seeds)
    extra = 1 + (settings.long_run_strength not in settings.strengths)
    return per_cell * cells + extra * len(settings.targets) * len(settings.seeds)


# -- the sweep and its rows -----------------------------------------------------------------

@dataclass
class Outcome:
    """One cell of the sweep: the final run of ``method`` and its test error (%)."""

    dataset: str
    method: str
    arm: str
    strength: float
    seed: int
    run: TrainedRun
    error: float


def sweep(study: LabelNoiseStudy, progress=None) -> list[Outcome]:
    """Every (method, arm, strength, seed) of ``study.settings`` for ``study.target``;
    ``progress.update(from_cache, label)`` is called after each cell."""
    s, outcomes = study.settings, []
    for seed in s.seeds:
        for strength in s.strengths:
            for arm in ARMS:
                for method in s.methods:
                    run = study.method_run(method, arm, strength, seed)
                    outcomes.append(Outcome(study.target, method, arm, float(strength), int(seed),
                                            run, study.test_error(run)))
                    if progress is not None:
                        progress.update(run.from_cache,
                                        f"{study.target} {arm} s={strength:g} {method} seed {seed}")
    return outcomes


def error_rows(session, outcomes: list[Outcome]) -> list[dict]:
    """Result rows (metric ``error``, percent) for ``session.record``."""
    rows = []
    for o in outcomes:
        rows += session.rows(o.run, [dict(metric="error", value=o.error)], dataset=o.dataset,
                             method=o.method, arm=o.arm, strength=o.strength)
    return rows


def area_rows(session, errors) -> list[dict]:
    """One ``error_auc`` row per (dataset, method, arm, seed): the trapezoid area
    under test error (%) against strength (:func:`area_under_error_curve`);
    ``detail`` lists the strengths it spans. ``errors``: rows or a DataFrame
    of ``error`` rows; ``wall_time_s`` sums the cells' final runs."""
    import pandas as pd

    frame = pd.DataFrame(errors)
    frame = frame[frame.metric == "error"]
    rows = []
    for (dataset, method, arm, seed), group in frame.groupby(
            ["dataset", "method", "arm", "seed"], sort=False):
        group = group.sort_values("strength")
        strengths = group.strength.astype(float).to_numpy()
        rows.append(dict(
            section=session.section, dataset=dataset, method=method, arm=arm, seed=int(seed),
            metric="error_auc", detail="s=" + ",".join(f"{x:g}" for x in strengths),
            value=area_under_error_curve(strengths, group.value.astype(float).to_numpy()),
            device=session.provenance.device, commit=session.provenance.commit,
            wall_time_s=float(group.wall_time_s.astype(float).sum())))
    return rows


# The paper's Table 1 (area under the error curve, percent); not ours.
PAPER_TABLE1 = {
    ("cifar10", "scratch"): {"no_correction": 28.7, "forward": 25.5, "glc_5": 14.0, "glc_10": 11.5},
    ("cifar10", "pretrained"): {"no_correction": 15.9, "forward": 15.7, "glc_5": 7.2, "glc_10": 6.4},
    ("cifar100", "scratch"): {"no_correction": 55.4, "forward": 52.6, "glc_5": 46.8, "glc_10": 38.9},
    ("cifar100", "pretrained"): {"no_correction": 39.1, "forward": 42.8, "glc_5": 33.7, "glc_10": 28.4},
}


def paper_table1():
    """The paper's Table 1 as a DataFrame (rows: methods; columns: dataset × arm)."""
    import pandas as pd

    table = pd.DataFrame(PAPER_TABLE1)
    table.index = [METHODS[m].title for m in table.index]
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["dataset", "arm"])
    return table


def claims(areas) -> list[tuple[str, bool]]:
    """The paper's §3.1 claims checked on ``areas`` (a Series indexed by
    (method, arm) of one dataset's mean AUC): (claim, holds)."""
    have = set(areas.index)
    out = []
    for m in METHODS:
        if (m, "scratch") in have and (m, "pretrained") in have:
            out.append((f"pre-training lowers the area for {METHODS[m].title}",
                        bool(areas[m, "pretrained"] < areas[m, "scratch"])))
    if {("no_correction", "pretrained"), ("forward", "scratch")} <= have:
        out.append(("pre-training alone beats Forward Correction from scratch",
                    bool(areas["no_correction", "pretrained"] < areas["forward", "scratch"])))
    if {("glc_5", "pretrained"), ("glc_10", "scratch")} <= have:
        out.append(("pre-training with 5% trusted data beats 10% trusted from scratch (GLC)",
                    bool(areas["glc_5", "pretrained"] < areas["glc_10", "scratch"])))
    return out
