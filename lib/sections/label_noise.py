"""Robustness to label corruption (paper §3.1, Table 1, Figures 1 and 2).

A trusted fraction of the training set keeps its clean labels; the rest is
corrupted at strength ``s`` with ``C = (1 − s)·I + s·11ᵀ/K`` (uniform, see
:mod:`lib.noise`). Every method is trained at s = 0, 0.1, …, 1.0 (the paper
preset; coarser at quick/smoke) in two arms — from scratch and fine-tuned
from the pre-trained source — and summarised by the area under its test-error
curve (percent × strength, trapezoid rule; :func:`lib.metrics.area_under_error_curve`).

Methods (registry :data:`METHODS` of :class:`~lib.sections.base.Method`):

* ``no_correction``: plain cross-entropy on the noisy labels.
* ``forward`` (Patrini et al. 2017): stage 1 trains on the noisy labels with
  the correction recipe, as the official code trains both stages at one rate
  (hendrycks/pre-training ``robustness/label_corruption/train_forward.py``:
  lr 0.01 for both stages of the pre-trained arm, lines 194 and 341); where
  that recipe is the arm's no-correction recipe (from scratch; both arms at
  quick and smoke) stage 1 *is* the ``no_correction`` run, a cache hit. C is
  estimated from stage 1's softmax on the training set with the anchor rule
  of the target (:meth:`LabelNoiseSettings.anchor_percentile`; the official
  code: the 97th percentile for CIFAR-10, the plain argmax otherwise, same
  file lines 316–320; :func:`lib.noise.estimate_forward_matrix`); stage 2
  retrains from the same initialisation with the loss on softmax·C.
* ``glc_5`` / ``glc_10`` (Hendrycks et al. 2018), 5% / 10% trusted: stage 1
  trains on the untrusted part; C is the mean softmax over the trusted examples
  of each clean class (:func:`lib.noise.estimate_glc_matrix`); stage 2
  retrains from the same initialisation on all the data — corrected loss on the
  untrusted part, plain cross-entropy on the trusted part. Both stages use the
  correction recipe, as the official code uses one learning rate for both.

Recipes (paper §3.1): from scratch 100 epochs at lr 0.1 with dropout 0.3 for
every method; pre-trained 10 epochs without dropout, lr 0.001 without a
correction and 0.01 with one. Every stage goes through the run cache, so an
interrupted sweep resumes and a finished one re-renders without training; the
test errors and the estimated matrices are memoized (:mod:`lib.evaluation.memo`).
The corruption (and the trusted split) is drawn from the run's seed:
``TrainingDataSpec.split_seed = seed``.

Where the official code differs beyond the recipes (issue 27; each stated in
:mod:`lib.noise` where it happens, and on the page): Forward's CIFAR-10 anchor
rows, zeroed in part through a numpy view there, untouched here; GLC's second
stage, two forward passes (trusted, untrusted) and a division by 128 there, one
pass and the batch mean here; the trusted split, the first 5% or 10% of the
file there, class-stratified here; the pre-trained arm's classifier, without a
bias there; the inputs of the official Forward/GLC scripts, normalised with the
CIFAR statistics although the source saw (x − 0.5)/0.5.

Figure 1: one long from-scratch run without a correction at
``long_run_strength``, its clean test error tracked every epoch, against the
pre-trained no-correction model at the same strength.

The class-exclusion check (§3.1, paper preset only; :mod:`lib.sections.exclusion`):
No Correction fine-tuned on CIFAR-10 from the source without the CIFAR-10-related
classes, at every strength and seed, as the pre-trained arm; its rows carry the
source's label on the ``source`` axis, and its area stands beside the full
source's in Table 1 (the paper: 14.5 against 15.9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from lib.claims import Claim, arm_band, seed_count, weighted_binomial_se
from lib.evaluation.clean import clean_evaluation
from lib.evaluation.memo import memoized
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.metrics import area_under_error_curve, softmax
from lib.noise import estimate_forward_matrix, estimate_glc_matrix, matrix_param
from lib.presets import PRESETS, DataSpec, Preset, Recipe
from lib.recorded import recorded_section_recipes
from lib.results import tidy
from lib.sections import SECTIONS
from lib.sections import exclusion
from lib.sections.base import ARMS, DeferredRun, Method, Section, method_registry, per_preset
from lib.training import RunConfig, TrainedRun, TrainingDataSpec, predict_logits
from lib.validation import check_choice, check_range

NAME = "label_noise"
_VIEWS_KEPT = 4  # built training views a study keeps (one strength's worth)


@dataclass(frozen=True)
class LabelNoiseSettings:
    """The §3.1 sweep at one preset.

    ``strengths``: corruption strengths s (the paper: 0, 0.1, …, 1.0);
    ``train_size``: class-stratified training subset (``None`` = all);
    ``scratch``: the from-scratch recipe of every method; ``finetune``: the
    pre-trained arm without a correction; ``finetune_corrected``: the
    pre-trained arm with Forward or GLC; ``long_run_epochs`` and
    ``long_run_strength``: Figure 1's long from-scratch run; ``seeds``: repeats.
    Forward's anchors: ``forward_percentile`` for every target but those of
    ``forward_percentile_by_target`` ((target, percentile) pairs; 100 = the
    plain argmax), see :meth:`anchor_percentile`. ``ablation_source``: the
    (label, DataSpec) of the source without the CIFAR-10-related classes, from
    which the class-exclusion check fine-tunes No Correction on
    ``ablation_target`` (CIFAR-10; ``None``: no check at this preset,
    :mod:`lib.sections.exclusion`).
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
    forward_percentile_by_target: tuple = ()
    ablation_source: tuple | None = None
    ablation_target: str = exclusion.CHECK_TARGET
    note: str = ""

    def __post_init__(self):
        s = list(self.strengths)
        if len(s) < 2 or s != sorted(set(s)) or s[0] < 0 or s[-1] > 1:
            raise ValueError(f"strengths must be >= 2 distinct increasing values in [0, 1], got {s}")
        for name in self.methods:
            check_choice("method", name, METHODS)
        check_range("forward_percentile", self.forward_percentile, 0.0, 100.0)
        for target, percentile in self.forward_percentile_by_target:
            check_choice("forward_percentile_by_target target", target, self.targets)
            check_range(f"forward percentile of {target}", percentile, 0.0, 100.0)
        if self.ablation_source is not None:
            check_choice("ablation_target", self.ablation_target, self.targets)

    def anchor_percentile(self, target: str) -> float:
        """The percentile below which Forward takes the anchor of each class on
        ``target`` (100: the plain argmax; :func:`lib.noise.estimate_forward_matrix`)."""
        return float(dict(self.forward_percentile_by_target).get(target,
                                                                 self.forward_percentile))

    @property
    def trusted_fractions(self) -> tuple:
        return tuple(sorted({METHODS[m].fact("trusted_fraction", 0.0) for m in self.methods}
                            - {0.0}))

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
            "Forward anchors    : " + ", ".join(
                f"{t} " + ("plain argmax" if self.anchor_percentile(t) >= 100
                           else f"{self.anchor_percentile(t):g}th percentile")
                for t in self.targets),
        ] + exclusion.describe(self.ablation_source,
                               f"No Correction on {self.ablation_target}, every strength "
                               "and seed")
          + ([f"note               : {self.note}"] if self.note else []))


# -- building and training the runs --------------------------------------------------------

@dataclass
class Study:
    """What the methods build their runs from: the preset and the settings;
    to train, ``train`` (``config -> TrainedRun``, e.g. ``session.train``) and
    the data ``root``, ``device`` and ``runs_dir`` the evaluations use. A
    *cell* is a dict ``{target, seed, corruption}``, with ``source`` (a
    source variant's label) in the class-exclusion check's cells."""

    preset: Preset
    settings: LabelNoiseSettings
    train: Callable[[RunConfig], TrainedRun] | None = None
    root: object = None
    device: object = "cpu"
    runs_dir: object = None
    _views: dict = field(default_factory=dict, repr=False)
    _tests: dict = field(default_factory=dict, repr=False)

    def cells(self, target: str):
        """The sweep's cells of ``target``, in training order."""
        for seed in self.settings.seeds:
            for strength in self.settings.strengths:
                yield dict(target=target, seed=int(seed), corruption=float(strength))

    def check_cells(self) -> list[dict]:
        """The class-exclusion check's cells (CIFAR-10, every strength and
        seed, ``source`` set); none without an ``ablation_source``."""
        ablation = self.settings.ablation_source
        if ablation is None:
            return []
        return [{**cell, "source": ablation[0]}
                for cell in self.cells(self.settings.ablation_target)]

    # data ---------------------------------------------------------------------------------
    def data(self, cell: dict, trusted_fraction: float = 0.0,
             part: str = "all") -> TrainingDataSpec:
        """The corrupted training set; ``corrupt_labels`` is the last transform
        (after the stratified subset), so the trusted examples come first."""
        base = TrainingDataSpec(DataSpec.of(cell["target"]), size=self.settings.train_size,
                                split_seed=cell["seed"])
        return base.with_transform("corrupt_labels", kind=self.settings.kind,
                                   strength=cell["corruption"],
                                   trusted_fraction=float(trusted_fraction), part=part)

    def view(self, spec: TrainingDataSpec):
        """The built training view of ``spec``; the last few are kept, so the two
        arms of one strength share them (the sweep loops over arms innermost)."""
        if spec not in self._views:
            if len(self._views) >= _VIEWS_KEPT:
                self._views.pop(next(iter(self._views)))
            self._views[spec] = spec.build(self.root)[0]
        return self._views[spec]

    # runs ---------------------------------------------------------------------------------
    def label(self, arm: str, cell: dict, tag: str) -> str:
        source = f":{cell['source']}" if cell.get("source") else ""
        return (f"{NAME}[{self.preset.name}:{cell['target']}:{arm}{source}:{tag}:"
                f"seed{cell['seed']}]")

    def config(self, arm: str, cell: dict, data: TrainingDataSpec, tag: str,
               corrected: bool = False, track: bool = False, recipe: Recipe | None = None,
               **changes) -> RunConfig:
        """The run config of one stage in ``arm`` ("scratch" | "pretrained");
        a cell with a ``source`` fine-tunes from the ``ablation_source``."""
        check_choice("arm", arm, ARMS)
        s, target, seed = self.settings, cell["target"], cell["seed"]
        if cell.get("source"):
            if arm != "pretrained" or s.ablation_source is None \
                    or cell["source"] != s.ablation_source[0]:
                raise ValueError(f"a cell with source {cell['source']!r} needs the pretrained "
                                 f"arm (got {arm!r}) and that ablation_source (settings: "
                                 f"{s.ablation_source and s.ablation_source[0]!r})")
            changes["source"] = source_run(self.preset, source=s.ablation_source[1])
        if arm == "scratch":
            return scratch_run(self.preset, seed, data=data, recipe=recipe or s.scratch,
                               track=track, target=target, label=self.label(arm, cell, tag),
                               **changes)
        return finetune_run(self.preset, seed, data=data,
                            recipe=recipe or (s.finetune_corrected if corrected else s.finetune),
                            track=track, target=target, label=self.label(arm, cell, tag),
                            **changes)

    def long_cell(self, target: str, seed: int) -> dict:
        """Figure 1's cell: ``long_run_strength`` (its pre-trained reference is
        the no-correction run of this cell)."""
        return dict(target=target, seed=int(seed),
                    corruption=float(self.settings.long_run_strength))

    def long_run(self, target: str, seed: int) -> RunConfig:
        """Figure 1: from scratch, no correction, ``long_run_epochs`` at
        ``long_run_strength``, the clean test error tracked every epoch."""
        s, cell = self.settings, self.long_cell(target, seed)
        return self.config("scratch", cell, self.data(cell), f"long_s{s.long_run_strength:g}",
                           track=True, recipe=replace(s.scratch, epochs=s.long_run_epochs))

    # evaluations (memoized) ---------------------------------------------------------------
    def memo(self, name: str, run: TrainedRun, data: list, params: dict, compute):
        return memoized(name, run, data, params, compute, device=self.device,
                        runs_dir=self.runs_dir)

    def probabilities(self, run: TrainedRun, dataset) -> np.ndarray:
        return softmax(predict_logits(run.model, dataset, self.device))

    def test_error(self, run: TrainedRun, target: str) -> dict:
        """``{"error": top-1 error on the clean test set (%), "n": test images}``."""
        spec = target_test_data(self.preset, target)

        def load():
            if spec not in self._tests:
                self._tests[spec] = spec.build(self.root)
            return self._tests[spec]

        result = clean_evaluation(run, spec, self.device, self.root, self.runs_dir, load)
        return {"error": result["error"], "n": result["n"]}


# -- methods --------------------------------------------------------------------------------

METHODS = method_registry(NAME)


def _tag(prefix: str, cell: dict) -> str:
    return f"{prefix}_s{cell['corruption']:g}"


def _no_correction_config(study: Study, arm: str, cell: dict) -> RunConfig:
    """Cross-entropy on the noisy labels."""
    return study.config(arm, cell, study.data(cell), _tag("none", cell))


def _two_stage(name: str, title: str, prefix: str, stage1: Callable, correction: Callable,
               **kwargs) -> Method:
    """A corrected method: ``stage1(study, arm, cell) -> RunConfig`` is trained
    first; ``correction(study, cell, stage1_run) -> (data, objective,
    objective_params)`` gives stage 2, retrained from the same initialisation
    with the correction recipe."""

    def final(study, arm, cell, first):
        data, objective, params = correction(study, cell, first)
        return study.config(arm, cell, data, _tag(prefix, cell), corrected=True,
                            objective=objective, objective_params=params)

    def train(study, arm, cell):
        return study.train(final(study, arm, cell, study.train(stage1(study, arm, cell))))

    def plan(study, arm, cell):
        first = stage1(study, arm, cell)
        return [first, DeferredRun(study.label(arm, cell, _tag(prefix, cell)), (first,))]

    return Method(name, title, ARMS, train=train, plan=plan, stages=2, **kwargs)


def _forward_stage1(study: Study, arm: str, cell: dict) -> RunConfig:
    """Forward's stage 1: cross-entropy on the noisy labels with the arm's
    correction recipe (the official code's one rate for both stages); the
    ``no_correction`` run itself where the two recipes of the arm agree."""
    s = study.settings
    if arm == "scratch" or s.finetune_corrected == s.finetune:
        return _no_correction_config(study, arm, cell)
    return study.config(arm, cell, study.data(cell), _tag("forward", cell) + "_stage1",
                        corrected=True)


def _forward_correction(study: Study, cell: dict, first: TrainedRun):
    """Forward (Patrini et al. 2017): C from stage 1's softmax on its own noisy
    training set (the target's anchor rule), then the loss on softmax·C."""
    data = study.data(cell)
    percentile = study.settings.anchor_percentile(cell["target"])

    def compute():
        probabilities = study.probabilities(first, study.view(data))
        return estimate_forward_matrix(probabilities, percentile).tolist()

    matrix = study.memo("forward_matrix", first, [data], {"percentile": percentile}, compute)
    return data, "forward_corrected", (("matrix", matrix_param(matrix)),)


def _glc_stage1(study: Study, arm: str, cell: dict, fraction: float) -> RunConfig:
    """GLC's stage 1: the untrusted (corrupted) part only."""
    return study.config(arm, cell, study.data(cell, fraction, "untrusted"),
                        _tag(f"glc{fraction:g}", cell) + "_stage1", corrected=True)


def _glc_correction(study: Study, cell: dict, first: TrainedRun, fraction: float):
    """GLC (Hendrycks et al. 2018): C = mean stage-1 softmax over the trusted
    examples of each clean class; stage 2 on all the data."""
    trusted_spec = study.data(cell, fraction, "trusted")

    def compute():
        trusted = study.view(trusted_spec)
        matrix = estimate_glc_matrix(study.probabilities(first, trusted),
                                     trusted.labels.numpy(), trusted.num_classes)
        return {"matrix": matrix.tolist(), "num_trusted": len(trusted)}

    estimate = study.memo("glc_matrix", first, [trusted_spec], {}, compute)
    return study.data(cell, fraction, "all"), "glc", (
        ("matrix", matrix_param(estimate["matrix"])), ("num_trusted", int(estimate["num_trusted"])))


def _gold_loss_correction(percent: int) -> Method:
    fraction = percent / 100
    return _two_stage(f"glc_{percent}", f"GLC ({percent}% Trusted)", f"glc{fraction:g}",
                      partial(_glc_stage1, fraction=fraction),
                      partial(_glc_correction, fraction=fraction),
                      facts=(("trusted_fraction", fraction),))


METHODS.add("no_correction", Method.single_stage("no_correction", "No Correction", ARMS,
                                                 _no_correction_config))
METHODS.add("forward", _two_stage("forward", "Forward Correction", "forward",
                                  _forward_stage1, _forward_correction))
METHODS.add("glc_5", _gold_loss_correction(5))
METHODS.add("glc_10", _gold_loss_correction(10))


# -- settings per preset --------------------------------------------------------------------

SETTINGS = per_preset(NAME, {
    "smoke": LabelNoiseSettings(
        targets=("fashion_mnist",), strengths=(0.0, 1.0), train_size=200,
        scratch=Recipe(epochs=1, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=1, lr=0.05), finetune_corrected=Recipe(epochs=1, lr=0.05),
        long_run_epochs=3,
        note="two strengths and one epoch per run: checks the pipeline, shows nothing"),
    "quick": LabelNoiseSettings(
        targets=("fashion_mnist",), strengths=(0.0, 0.5, 1.0), train_size=1000,
        # Batch size and rates chosen per arm by the clean (s = 0) validation error
        # (lib.selection): benchmarks/select_section_recipes.py, results/quick_section_recipes.csv.
        scratch=Recipe(epochs=12, lr=0.05, batch_size=32),
        finetune=Recipe(epochs=4, lr=0.0125, batch_size=32),
        finetune_corrected=Recipe(epochs=4, lr=0.0125, batch_size=32),
        long_run_epochs=30,
        note="3 of the paper's 11 strengths (the area is still over s in [0, 1]) and a "
             "1,000-image subset, to fit the book's budget on 2 CPU cores; batch "
             "32 (at 128 an epoch of 1,000 images is 8 steps and the from-scratch arm stops "
             "far from convergence), and each arm's rate chosen by its clean validation "
             "error, the same grid for both (benchmarks/select_section_recipes.py): from "
             "scratch lr 0.05 "
             "without dropout, fine-tuned lr 0.0125 with and without a correction"),
    "paper": LabelNoiseSettings(
        targets=("cifar10", "cifar100"), strengths=tuple(round(0.1 * i, 1) for i in range(11)),
        train_size=None,
        scratch=Recipe(epochs=100, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=10, lr=0.001), finetune_corrected=Recipe(epochs=10, lr=0.01),
        long_run_epochs=200, seeds=(0,),
        # official train_forward.py lines 316-320: 97th percentile for CIFAR-10 only
        forward_percentile_by_target=(("cifar100", 100.0),),
        ablation_source=exclusion.excluded_source(PRESETS["paper"]),
        note="the paper's settings; one run per cell (the paper reports no repeats for Table 1); "
             "Figure 1's 200 epochs use the cosine schedule (the paper's step drops are not "
             "in the engine)"),
})


def settings_for(preset: str | Preset) -> LabelNoiseSettings:
    """The §3.1 settings of ``preset`` (a name or a :class:`Preset`)."""
    return SECTION.settings_for(preset)


# -- plan and run ---------------------------------------------------------------------------

def plan(preset: str | Preset) -> list:
    """Every run of the sweep (stage 1 as configs, each stage 2 as a
    :class:`DeferredRun`), then Figure 1's long run and its pre-trained
    reference, per target, then the class-exclusion check's cells (No
    Correction, pre-trained); :meth:`Section.planned` adds the source runs."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    s = SECTION.settings_for(preset)
    study, out = Study(preset, s), []
    for target in s.targets:
        for cell in study.cells(target):
            for arm in ARMS:
                for name in s.methods:
                    out += METHODS[name].plan(study, arm, cell)
        for seed in s.seeds:
            out.append(study.long_run(target, seed))
            out += METHODS["no_correction"].plan(study, "pretrained",
                                                 study.long_cell(target, seed))
    for cell in study.check_cells():
        out += METHODS["no_correction"].plan(study, "pretrained", cell)
    return out


def _cell_rows(session, study: Study, run: TrainedRun, method: str, arm: str, cell: dict):
    """A cell's ``error`` row (and, for GLC, its trusted count)."""
    result = study.test_error(run, cell["target"])
    entries = [dict(metric="error", value=result["error"], unit="%", n=result["n"])]
    params = dict(run.config.objective_params)
    if "num_trusted" in params:
        entries.append(dict(metric="trusted_examples", value=params["num_trusted"],
                            unit="images"))
    return session.rows(run, entries, dataset=cell["target"], method=method, arm=arm,
                        corruption=cell["corruption"], source=cell.get("source", ""))


def _long_run_rows(session, run: TrainedRun, target: str, strength: float,
                   n: int) -> list[dict]:
    """Figure 1: the long run's clean test error after every epoch (tracked on
    the same ``n`` test images as the cells)."""
    return session.rows(run, [dict(metric="error", value=100.0 * r["test_error"], unit="%",
                                   n=n, epoch=int(r["epoch"])) for r in run.history],
                        dataset=target, method="no_correction", arm="scratch",
                        corruption=strength)


def trapezoid_weights(strengths) -> np.ndarray:
    """``w`` with ``Σ wᵢ·eᵢ`` = the trapezoid area under errors ``e`` at the
    sorted ``strengths`` (:func:`area_under_error_curve`)."""
    s = np.sort(np.asarray(strengths, float))
    gaps = np.diff(s)
    return (np.concatenate([[0.0], gaps]) + np.concatenate([gaps, [0.0]])) / 2


def cell_errors(rows: pd.DataFrame, settings: LabelNoiseSettings,
                source: str | None = "") -> pd.DataFrame:
    """The sweep's per-cell ``error`` rows: no epoch, a strength of the
    settings, pre-trained on ``source`` ("" = the preset's source, the main
    sweep; a variant's label: the class-exclusion check; ``None``: any)."""
    rows = rows if source is None else rows[rows.source == source]
    return rows[(rows.metric == "error") & rows.epoch.isna()
                & rows.corruption.isin(settings.strengths)]


def areas(rows: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """The ``error_auc`` rows pre-trained on ``source`` (as :func:`cell_errors`)."""
    return rows[(rows.metric == "error_auc") & (rows.source == source)]


def area_rows(rows, settings: LabelNoiseSettings) -> list[dict]:
    """One ``error_auc`` row (unit "%·s") per (dataset, method, arm, source,
    seed): the trapezoid area under test error (%) against the settings'
    strengths; ``wall_time_s`` sums the cells' final runs, ``n`` is the test
    images of each error."""
    frame = cell_errors(tidy(rows), settings, source=None)
    out = []
    for (dataset, method, arm, source, seed), group in frame.groupby(
            ["dataset", "method", "arm", "source", "seed"], sort=False):
        out.append(dict(
            section=NAME, dataset=dataset, method=method, arm=arm, source=source,
            seed=int(seed),
            metric="error_auc", unit="%·s", n=int(group.n.min()),
            value=area_under_error_curve(group.corruption.to_numpy(float),
                                         group.value.to_numpy(float)),
            wall_time_s=float(group.wall_time_s.astype(float).sum())))
    return out


def run(session) -> list[dict]:
    """Train or load every cell, Figure 1's long run and its reference, then
    the class-exclusion check's cells; the rows: per-cell test errors and GLC
    trusted counts, per-epoch errors of the long run, and the area under each
    error curve (the check's with its ``source``)."""
    s = session.settings
    study = Study(session.preset, s, train=session.train, root=session.data_root,
                  device=session.device, runs_dir=session.runs_dir)
    rows = []
    for target in s.targets:
        for cell in study.cells(target):
            for arm in ARMS:
                for name in s.methods:
                    final = METHODS[name].train(study, arm, cell)
                    rows += _cell_rows(session, study, final, name, arm, cell)
        n = next(r["n"] for r in rows if r["dataset"] == target and r["metric"] == "error")
        for seed in s.seeds:
            rows += _long_run_rows(session, study.train(study.long_run(target, seed)), target,
                                   float(s.long_run_strength), n)
            if s.long_run_strength not in s.strengths:
                cell = study.long_cell(target, seed)
                reference = METHODS["no_correction"].train(study, "pretrained", cell)
                rows += _cell_rows(session, study, reference, "no_correction", "pretrained",
                                   cell)
    for cell in study.check_cells():
        checked = METHODS["no_correction"].train(study, "pretrained", cell)
        rows += _cell_rows(session, study, checked, "no_correction", "pretrained", cell)
    return rows + area_rows(rows, s)


# -- tables and figures ---------------------------------------------------------------------

# The paper's Table 1 (area under the error curve, percent); not ours.
PAPER_TABLE1 = {
    ("cifar10", "scratch"): {"no_correction": 28.7, "forward": 25.5, "glc_5": 14.0, "glc_10": 11.5},
    ("cifar10", "pretrained"): {"no_correction": 15.9, "forward": 15.7, "glc_5": 7.2, "glc_10": 6.4},
    ("cifar100", "scratch"): {"no_correction": 55.4, "forward": 52.6, "glc_5": 46.8, "glc_10": 38.9},
    ("cifar100", "pretrained"): {"no_correction": 39.1, "forward": 42.8, "glc_5": 33.7, "glc_10": 28.4},
}
PAPER_TARGETS = ("cifar10", "cifar100")
# §3.1's text: No Correction pre-trained without the CIFAR-10-related classes, CIFAR-10.
PAPER_EXCLUDED_AUC = 14.5
_DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def _titles(methods) -> dict:
    return {m: METHODS[m].title for m in methods}


def table1(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset) -> pd.DataFrame:
    """Ours: the area under the error curve (%·s, mean over seeds) per method ×
    (dataset, arm); where the preset runs the class-exclusion check, No
    Correction pre-trained without the CIFAR-10-related classes and its change
    from the full source (:func:`exclusion_rows`); and, last, the clean test
    error (%) of both arms (s = 0, no correction), so a gain under noise is not
    mistaken for plain accuracy."""
    means = areas(rows).groupby(["dataset", "method", "arm"]).value.mean()
    columns = pd.MultiIndex.from_tuples([(t, a) for t in settings.targets for a in ARMS],
                                        names=["dataset", "arm"])
    table = means.unstack(["dataset", "arm"]).reindex(index=list(settings.methods),
                                                      columns=columns)
    table = table.rename(index=_titles(settings.methods))
    if settings.ablation_source is not None:
        cell = (settings.ablation_target, "no_correction", "pretrained")
        mine = areas(rows, settings.ablation_source[0])
        checked = mine.groupby(["dataset", "method", "arm"]).value.mean().get(cell, np.nan)
        full = means.get(cell, np.nan)
        for title, value in exclusion_rows(settings, checked, full).items():
            table.loc[title] = [value if c == (settings.ablation_target, "pretrained") else np.nan
                                for c in columns]
    errors = cell_errors(rows, settings)
    clean = errors[(errors.corruption == 0) & (errors.method == "no_correction")]
    clean = clean.groupby(["dataset", "arm"]).value.mean()
    table.loc["clean test error, s = 0, No Correction (%)"] = [clean.get(c, np.nan)
                                                               for c in columns]
    grid = ", ".join(f"{x:g}" for x in settings.strengths)
    return table.astype(float).round(1).rename_axis(
        f"ours ({preset.name} preset; area, %·s, over s = {grid})")


def paper_table1(rows=None, settings=None, preset=None) -> pd.DataFrame:
    """The paper's Table 1 (area under the error curve, %·s over the 11
    strengths), labelled as the paper's; where the settings run the
    class-exclusion check, the two rows of §3.1's text below it."""
    table = pd.DataFrame(PAPER_TABLE1)
    table.index = [METHODS[m].title for m in table.index]
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["dataset", "arm"])
    title = "the paper's Table 1 (area, %·s, 11 strengths)"
    if settings is not None and settings.ablation_source is not None:
        full = PAPER_TABLE1["cifar10", "pretrained"]["no_correction"]
        for row, value in exclusion_rows(settings, PAPER_EXCLUDED_AUC, full).items():
            table.loc[row] = [value if c == ("cifar10", "pretrained") else np.nan
                              for c in table.columns]
        title += "; the exclusion rows: §3.1's text"
    return table.rename_axis(title)


def exclusion_rows(settings: LabelNoiseSettings, checked: float, full: float) -> dict:
    """Table 1's rows of the class-exclusion check (title → CIFAR-10
    pre-trained area): No Correction from the source without the classes, and
    its change from the full source."""
    label = settings.ablation_source[0]
    return {f"No Correction, source {label}": checked,
            f"  change from the full source ({label} − full)": checked - full}


def data_summary(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset) -> str:
    """A sentence per target: training and test images, trusted examples per
    GLC method, cells trained."""
    errors = cell_errors(rows, settings)
    trusted = rows[rows.metric == "trusted_examples"]
    lines = []
    for target in settings.targets:
        mine = errors[errors.dataset == target]
        counts = trusted[trusted.dataset == target].groupby("method").value.max()
        glc = ", ".join(f"{METHODS[m].title} {int(counts[m])}" for m in settings.methods
                        if m in counts)
        lines.append(f"**{target}**: {settings.train_size or 'all'} training images, "
                     f"{int(mine.n.max())} test images, {len(mine)} cells"
                     + (f"; trusted examples: {glc}" if glc else "") + ".")
    return "\n\n".join(lines)


def recipe_selection(rows=None, settings=None, preset=None):
    """The recorded choice of the quick recipes (``benchmarks/select_section_recipes.py``)."""
    return recorded_section_recipes(NAME)


def figure2(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset):
    """Figure 2: test error against corruption strength, one panel per target ×
    method, both arms (mean over seeds)."""
    import matplotlib.pyplot as plt

    curves = cell_errors(rows, settings).groupby(
        ["dataset", "method", "arm", "corruption"]).value.mean()
    methods, titles = list(settings.methods), _titles(settings.methods)
    fig, axes = plt.subplots(len(settings.targets), len(methods), sharey="row", squeeze=False,
                             figsize=(3.1 * len(methods), 2.8 * len(settings.targets)))
    for row, target in zip(axes, settings.targets):
        for ax, method in zip(row, methods):
            for arm in ARMS:
                curve = curves.loc[target, method, arm]
                ax.plot(curve.index, curve.values, marker="o", label=arm)
            ax.set(title=f"{target}: {titles[method]}", xlabel="corruption strength s",
                   xlim=(0, 1))
        row[0].set_ylabel("test error (%)")
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def _long_runs(rows: pd.DataFrame, settings: LabelNoiseSettings):
    """(target, seed, per-epoch error Series, pre-trained reference error) per long run."""
    rows = exclusion.main_rows(rows)
    epochs = rows[(rows.metric == "error") & rows.epoch.notna()]
    cells = rows[(rows.metric == "error") & rows.epoch.isna() & (rows.method == "no_correction")
                 & (rows.arm == "pretrained") & (rows.corruption == settings.long_run_strength)]
    for (target, seed), group in epochs.groupby(["dataset", "seed"], sort=False):
        curve = group.set_index(group.epoch.astype(int)).value.sort_index()
        reference = cells[(cells.dataset == target) & (cells.seed == seed)].value
        yield target, int(seed), curve, float(reference.iloc[0])


def figure1(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset):
    """Figure 1: the long from-scratch run's test error per epoch, with the
    pre-trained model at the same strength as the reference line."""
    import matplotlib.pyplot as plt

    runs = list(_long_runs(rows, settings))
    fig, axes = plt.subplots(1, len(runs), squeeze=False, figsize=(5 * len(runs), 3.4))
    for ax, (target, seed, curve, reference) in zip(axes[0], runs):
        ax.plot(curve.index, curve.values, label="from scratch, no correction")
        ax.axhline(reference, color="C1", linestyle="--", label="pre-trained, tuned")
        ax.set(title=f"{target}, s = {settings.long_run_strength:g}, seed {seed}",
               xlabel="epoch", ylabel="test error (%)")
        ax.legend()
    fig.tight_layout()
    return fig


def memorisation(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset) -> str:
    """Figure 1's check, in words: does the long run's error rise after its
    best epoch (by more than half a point), and does the tuned model stay better?"""
    lines = []
    for target, seed, curve, reference in _long_runs(rows, settings):
        rises = curve.iloc[-1] > curve.min() + 0.5
        lines.append(
            f"**{target}**, seed {seed}: best {curve.min():.1f}% at epoch {curve.idxmin()}, "
            f"final {curve.iloc[-1]:.1f}%; pre-trained and tuned: {reference:.1f}%. "
            + ("The error rises after its best epoch (memorisation), as in the paper. " if rises
               else "The error does not rise after its best epoch: this run does not show the "
                    "memorisation of Figure 1. ")
            + ("The tuned model stays better." if reference < curve.min()
               else "The long run reaches the tuned model's error."))
    return "\n\n".join(lines)


# -- claims ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """A §3.1 claim as two cells of Table 1, each ``(method, arm)``: the
    ``baseline`` (worse in the paper) and the ``contender`` (better); the
    magnitude is the contender's relative reduction of the area."""

    key: str
    statement: str
    baseline: tuple
    contender: tuple
    labels: tuple = ("from scratch", "pre-trained")
    abstract: str = ""  # the abstract's wording of the magnitude, where it has one

    def paper(self, target: str) -> tuple[str, str]:
        """(the paper's values, its relative reduction) for ``target``: its own
        dataset's, or both CIFARs' for a stand-in target."""
        targets = (target,) if target in PAPER_TARGETS else PAPER_TARGETS
        values, reductions = [], []
        for t in targets:
            b = PAPER_TABLE1[t, self.baseline[1]][self.baseline[0]]
            c = PAPER_TABLE1[t, self.contender[1]][self.contender[0]]
            prefix = "" if len(targets) == 1 else f"{_DATASET_NAMES[t]} "
            values.append(f"{prefix}{b:.1f} → {c:.1f}")
            reductions.append(f"{prefix}{100 * (1 - c / b):.0f}%")
        return "; ".join(values), "; ".join(reductions) + (f" ({self.abstract})"
                                                            if self.abstract else "")


    def paper_differences(self, target: str) -> tuple:
        """((paper dataset, contender − baseline area), ...), as :meth:`paper`."""
        targets = (target,) if target in PAPER_TARGETS else PAPER_TARGETS
        return tuple((_DATASET_NAMES[t], PAPER_TABLE1[t, self.contender[1]][self.contender[0]]
                      - PAPER_TABLE1[t, self.baseline[1]][self.baseline[0]]) for t in targets)


COMPARISONS = (
    Comparison("label_noise_auc", "pre-training lowers the area under the error curve "
               "(No Correction)", ("no_correction", "scratch"), ("no_correction", "pretrained"),
               abstract="abstract: about 30%"),
    *(Comparison(f"label_noise_auc_{m}", f"pre-training lowers the area under the error curve "
                 f"with {METHODS[m].title}", (m, "scratch"), (m, "pretrained"))
      for m in ("forward", "glc_5", "glc_10")),
    Comparison("label_noise_pretraining_beats_forward",
               "pre-training alone beats Forward Correction from scratch",
               ("forward", "scratch"), ("no_correction", "pretrained"),
               labels=("Forward from scratch", "No Correction pre-trained")),
    Comparison("label_noise_glc5_pretrained_beats_glc10",
               "GLC with 5% trusted data and pre-training beats GLC with 10% from scratch",
               ("glc_10", "scratch"), ("glc_5", "pretrained"),
               labels=("GLC 10% from scratch", "GLC 5% pre-trained")),
)


def _two_areas(rows: pd.DataFrame, settings: LabelNoiseSettings, target: str, roles: dict):
    """(mean area of role "scratch", of "pretrained", band, band kind, seeds)
    of two cells of Table 1 on ``target`` (``roles``: role → (method, arm,
    source)), or ``None`` without both; the band from the seeds' areas (≥ 2
    seeds) or the sampling error of each area (one seed:
    :func:`weighted_binomial_se` with the trapezoid weights, ``n`` test images
    per error)."""
    per_seed = []
    for role, (method, arm, source) in roles.items():
        mine = areas(rows, source)
        mine = mine[(mine.dataset == target) & (mine.method == method) & (mine.arm == arm)]
        per_seed += [dict(arm=role, seed=int(r.seed), value=float(r.value))
                     for r in mine.itertuples()]
    per_seed = pd.DataFrame(per_seed, columns=["arm", "seed", "value"])
    if per_seed.arm.nunique() < 2:
        return None

    def sampling_se(role: str) -> float:
        method, arm, source = roles[role]
        cells = cell_errors(rows, settings, source)
        cells = cells[(cells.dataset == target) & (cells.method == method)
                      & (cells.arm == arm)].sort_values("corruption")
        return weighted_binomial_se(trapezoid_weights(cells.corruption.to_numpy(float)),
                                    cells.value.to_numpy(float), cells.n.to_numpy(int))

    band, band_kind = arm_band(per_seed, sampling_se)
    means = per_seed.groupby("arm").value.mean()
    return (float(means["scratch"]), float(means["pretrained"]), band, band_kind,
            seed_count(per_seed))


def _judge(comparison: Comparison, target: str, rows: pd.DataFrame,
           settings: LabelNoiseSettings, preset: Preset) -> Claim | None:
    """The claim on ``target``: the two cells' mean areas and their band
    (:func:`_two_areas`)."""
    judged = _two_areas(rows, settings, target, {"scratch": (*comparison.baseline, ""),
                                                 "pretrained": (*comparison.contender, "")})
    if judged is None:
        return None
    scratch, pretrained, band, band_kind, seeds = judged
    paper_values, paper_magnitude = comparison.paper(target)
    notes = () if target in PAPER_TARGETS else (
        f"The paper measured CIFAR-10 and CIFAR-100; {target} stands in at the {preset.name} "
        "preset.",)
    return Claim(key=comparison.key, section=NAME, dataset=target,
                 statement=comparison.statement, metric="area under the error curve",
                 unit="%·s", scratch=scratch, pretrained=pretrained, better="lower",
                 band=band, band_kind=band_kind, seeds=seeds,
                 magnitude=100 * (1 - pretrained / scratch) if scratch else float("nan"),
                 magnitude_name="relative reduction of the area (%)",
                 paper_values=paper_values, paper_magnitude=paper_magnitude,
                 paper_differences=comparison.paper_differences(target),
                 preset=preset.name, labels=comparison.labels, notes=notes)


def exclusion_claim(rows: pd.DataFrame, settings: LabelNoiseSettings,
                    preset: Preset) -> Claim | None:
    """§3.1's class-exclusion check: No Correction pre-trained without the
    CIFAR-10-related classes "yields a similar AUC on CIFAR-10 of 14.5%" (15.9%
    with them), a similarity claim (:func:`lib.sections.exclusion.similarity_claim`);
    ``None`` without the check's rows. Its note gives the gain over from scratch
    that survives the exclusion."""
    if settings.ablation_source is None:
        return None
    target, label = settings.ablation_target, settings.ablation_source[0]
    judged = _two_areas(rows, settings, target, {
        "scratch": ("no_correction", "pretrained", ""),
        "pretrained": ("no_correction", "pretrained", label)})
    if judged is None:
        return None
    full, checked, band, band_kind, seeds = judged
    paper = (PAPER_TABLE1["cifar10", "scratch"]["no_correction"],
             PAPER_TABLE1["cifar10", "pretrained"]["no_correction"])
    scratch = areas(rows)
    scratch = scratch[(scratch.dataset == target) & (scratch.method == "no_correction")
                      & (scratch.arm == "scratch")].value
    notes = () if scratch.empty else (
        f"From scratch the area is {scratch.mean():.2f} %·s: without the classes pre-training "
        f"still lowers it by {100 * (1 - checked / scratch.mean()):.0f}% (the paper: "
        f"{paper[0]} → {PAPER_EXCLUDED_AUC}, {100 * (1 - PAPER_EXCLUDED_AUC / paper[0]):.0f}%).",)
    return exclusion.similarity_claim(
        key="label_noise_auc_without_cifar10_classes", section=NAME, dataset=target,
        statement="pre-training without the CIFAR-10-related classes gives a similar area "
                  "under the error curve (No Correction)",
        metric="area under the error curve, No Correction pre-trained", unit="%·s",
        full=full, excluded=checked, better="lower", band=band, band_kind=band_kind,
        seeds=seeds, paper_values=f"{paper[1]} → {PAPER_EXCLUDED_AUC}",
        paper_difference=PAPER_EXCLUDED_AUC - paper[1], paper_gain=paper[0] - paper[1],
        preset=preset.name, notes=notes)


def claims(rows: pd.DataFrame, settings: LabelNoiseSettings, preset: Preset) -> list[Claim]:
    """Every §3.1 claim whose methods the settings run, per target; the
    headline (no correction) first, for every target; last, where the preset
    runs it, the class-exclusion check (:func:`exclusion_claim`)."""
    out = []
    for comparison in COMPARISONS:
        if {comparison.baseline[0], comparison.contender[0]} <= set(settings.methods):
            for target in settings.targets:
                claim = _judge(comparison, target, rows, settings, preset)
                if claim is not None:
                    out.append(claim)
    checked = exclusion_claim(rows, settings, preset)
    return out + ([checked] if checked is not None else [])


SECTION = Section(
    name=NAME, title="Robustness to label corruption", paper="§3.1, Table 1, Figures 1 and 2",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"data": data_summary, "table1": table1, "paper_table1": paper_table1,
            "memorisation": memorisation, "recipe_selection": recipe_selection},
    figures={"figure2": figure2, "figure1": figure1})
SECTIONS.add(SECTION.name, SECTION)
