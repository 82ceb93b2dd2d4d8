"""Robustness to adversarial perturbations (paper §3.3, Table 3).

The adversary is untargeted L∞ PGD (Madry et al. 2018; :func:`lib.attacks.pgd_linf`)
in pixel space [0, 1]. Table 3 has four rows per target, the :data:`METHODS`
of this section, each a run of the run cache:

* ``normal``: normal (clean) training from scratch — the section's standard
  from-scratch run (:func:`lib.experiments.scratch_run`, shared with the
  pre-training page at the smoke and quick presets);
* ``adversarial``: adversarial training from scratch (Madry et al.): in every
  batch PGD examples replace the clean ones (objective ``"adversarial"``);
* ``adversarial_pretrained``: adversarial *pre-training* on the source against
  an untargeted adversary (:func:`adversarial_source_run`), then adversarial
  fine-tuning of the whole network on the target with a new classifier (paper:
  5 epochs at lr 0.001);
* ``last_layer``: the same adversarially pre-trained network, of which only the
  new last linear layer is tuned, adversarially (``Recipe(tune="last_layer")``).

Each row is scored on the same test images by clean accuracy and accuracy
under PGD-20 (in eval mode, :mod:`lib.evaluation.robustness`), and on a
smaller subset by AutoAttack (Croce & Hein 2020), a stronger check that PGD
does not overstate robustness. Sanity curves (accuracy against ε and against
the number of PGD steps) check that the attack behaves as an attack should.
Every evaluation is an :class:`Evaluation`, memoized by the run, the attacked
images' spec and only the attack parameters that change its result.

**The official PGD start** (issue 27): the official attack (hendrycks/pre-training,
``robustness/adversarial/attacks.py``) adds its random start to the clean batch in
place, so its ε-ball is centred on the noisy start and the perturbation from the
clean image reaches up to 2ε; Table 3 was trained and tested with it. Our default
keeps the paper's threat model, the ball around the clean image
(:func:`lib.attacks.pgd_linf`, ``start="paper"``). The rows of
``official_start_rows`` are also scored by PGD-``test_steps`` with
``start="official"`` on the same images and from the same noise (metric
``pgd_accuracy_official_start``), and :func:`pgd_start_table` sets the two
accuracies side by side. ``train_start="official"`` trains the adversarial rows
against the official attack as well (other run keys; not the default anywhere).

The class-exclusion check (§3.3, paper preset only; :mod:`lib.sections.exclusion`):
"as a quick check", two WRN-40-2 are adversarially pre-trained, one on the
full source and one without the CIFAR-10-related classes, then adversarially
tuned on CIFAR-10 as Table 3's pre-trained row and scored under PGD-20
(:func:`check_runs`, method :data:`CHECK_METHOD`, the ``source`` axis naming
the variant). The paper: "only a 1.04% decrease in adversarial accuracy".

Settings per preset (:data:`SETTINGS`): the paper's WRN-28-10 on CIFAR-10/100
with ε = 8/255 at ``paper`` (official code: github.com/hendrycks/pre-training,
``robustness/adversarial/``: Downsampled ImageNet pre-training 100 epochs at
lr 0.1, batch 256, PGD-10 with step 2/255, no dropout; tuning 5 epochs at lr
0.001, batch 128); a small WRN on Fashion-MNIST with ε = 0.1 at ``quick`` and
``smoke``. Training PGD takes ``k`` steps of 2.5·ε/k (Madry et al.'s rule; the
paper's 10 steps of 2/255 at ε = 8/255), the test attack 20 steps of ε/4.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.attacks.autoattack import ORIGINAL_ITERATIONS, SQUARE_QUERIES, TORCHATTACKS_ITERATIONS
from lib.attacks.pgd import PGD_STARTS
from lib.claims import Claim, arm_band, binomial_se, seed_count
from lib.dry_run import settings_at
from lib.evaluation.clean import clean_evaluation
from lib.evaluation.memo import memoized
from lib.evaluation.robustness import autoattack_on, non_increasing, pgd_accuracy
from lib.experiments import (finetune_run, released_source, scratch_run, source_run,
                             source_track_size)
from lib.presets import PRESETS, DataSpec, Preset, Recipe
from lib.recorded import recorded_section_recipes
from lib.sections import SECTIONS, exclusion
from lib.sections.base import Method, Section, method_registry, per_preset
from lib.training import EvalDataSpec, RunConfig, TrainingDataSpec
from lib.validation import check_choice, check_range, check_type

NAME = "adversarial"

# -- Table 3's rows: one registry of methods ---------------------------------------------------

METHODS = method_registry(NAME)


def _table3_method(name: str, title: str, arm: str) -> Method:
    """Table 3's row ``name``: one run, :func:`row_run` for the cell's target and seed."""
    return Method.single_stage(
        name, title, (arm,),
        lambda context, arm, cell: row_run(context.preset, name, cell["target"], cell["seed"]))


for _name, _title, _arm in (
        ("normal", "Normal Training", "scratch"),
        ("adversarial", "Adversarial Training", "scratch"),
        ("adversarial_pretrained", "Adv. Pre-Training and Tuning", "pretrained"),
        ("last_layer", "Adv. Pre-Training, last layer tuned", "pretrained")):
    METHODS.add(_name, _table3_method(_name, _title, _arm))

# The adversarial source's rows (history, cost) carry this method name.
SOURCE_METHOD = "adversarial_source"
SOURCE_TITLE = "Adv. pre-training on the source"
# The class-exclusion check's tuned models (not a row of Table 3: their own
# architecture); their ``source`` axis names the source variant ("" = full).
CHECK_METHOD = "adversarial_pretrained_check"
# §3.3's text: the WRN-40-2 pre-trained without the CIFAR-10-related classes has
# "only a 1.04% decrease in adversarial accuracy" (points, the paper's number).
PAPER_CHECK_CHANGE = -1.04

# The paper's Table 3 and §3.3 text (percent): (clean, adversarial) per row;
# for last-layer-only tuning only the adversarial accuracy is given.
PAPER_TABLE3 = {
    "cifar10": {"normal": (96.0, 0.0), "adversarial": (87.3, 45.8),
                "adversarial_pretrained": (87.1, 57.4), "last_layer": (None, 46.6)},
    "cifar100": {"normal": (81.0, 0.0), "adversarial": (59.1, 24.3),
                 "adversarial_pretrained": (59.2, 33.5), "last_layer": (None, 26.1)},
}
PAPER_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
# RobustBench (Croce et al. 2021) evaluates the paper's CIFAR-10 model
# ("Hendrycks2019Using") under AutoAttack at 54.92% (the paper: 57.4% under PGD-20).
ROBUSTBENCH_AUTOATTACK_CIFAR10 = 54.92

# The sanity curves: which rows, and which curves for each (first target and seed).
SANITY_CURVES = {"normal": ("eps",), "adversarial_pretrained": ("eps", "steps")}
# How a claim names the metric it compares.
METRIC_NAMES = {"clean_accuracy": "clean accuracy", "pgd_accuracy": "PGD-{steps} accuracy"}
# "near 0 at the largest ε": at most this accuracy (percent).
NEAR_ZERO = 10.0


def _pgd_params(eps: float, steps: int, start: str = "paper") -> tuple:
    """Objective parameters of PGD-``steps`` training: step 2.5·ε/steps; the
    PGD start (:data:`lib.attacks.pgd.PGD_STARTS`) only when it is not the
    default, so the run keys of the default stay those trained before it existed."""
    start_param = () if start == "paper" else (("start", start),)
    return (("eps", eps), ("step_size", 2.5 * eps / steps), ("steps", steps), *start_param)


# -- settings ---------------------------------------------------------------------------------

DRY_ADVERSARIAL_SIZE = 2  # images per WRN-28-10 training or attack at a dry run
DRY_ATTACK_STEPS = 2  # PGD steps at a dry run

@dataclass(frozen=True)
class AdversarialSettings:
    """Paper §3.3 at one preset.

    ``eps``: the L∞ budget (pixels in [0, 1]); training PGD takes
    ``train_steps`` steps of 2.5·ε/``train_steps``; the test attack
    ``test_steps`` steps of ``test_step_fraction``·ε. The adversarial source:
    ``source_data`` trained with ``source_recipe`` against PGD-``source_steps``.
    ``scratch``: adversarial training from scratch; ``normal``: normal training
    (``None`` = the preset's from-scratch recipe); ``finetune`` and
    ``last_layer``: adversarial tuning of the pre-trained network; every row
    trains on ``train_size`` target images (``None`` = the preset's). Evaluation:
    clean and PGD accuracy on ``attack_size`` test images (``None`` = the
    preset's test set), AutoAttack (``autoattack_version``, its APGD, APGD-T and
    FAB for ``autoattack_iterations`` steps each: the original's 100 at the
    paper preset, torchattacks' default 10 at quick and smoke; see
    :mod:`lib.attacks.autoattack`) on ``autoattack_size`` images for the rows
    ``autoattack_rows`` (its cost grows with the robust images: Square spends
    5,000 queries on each), the sanity
    curves on ``curve_size`` (ε multiples ``eps_multiples`` under
    PGD-``curve_steps``, and PGD with each of ``steps_grid`` steps).
    ``note`` is prose for the page: it changes no run and no evaluation.
    ``official_start_rows``: the rows also scored under the official code's PGD
    start (:func:`lib.attacks.pgd_linf`, ``start="official"``; same images,
    steps and noise as their PGD-``test_steps`` accuracy); ``train_start``: the
    start every adversarially trained run trains against ("paper", the
    default, or "official": other run keys).
    ``ablation_source``: the (label, DataSpec) of the source without the
    CIFAR-10-related classes for the class-exclusion check, whose two networks
    are ``ablation_architecture``, tuned on ``ablation_target`` (CIFAR-10;
    ``None``: no check at this preset).
    """

    preset: str
    targets: tuple
    architecture: str
    eps: float
    eps_text: str
    train_steps: int
    test_steps: int
    source_data: TrainingDataSpec
    source_recipe: Recipe
    source_steps: int
    scratch: Recipe
    finetune: Recipe
    last_layer: Recipe
    attack_size: int | None
    autoattack_size: int | None
    curve_size: int
    normal: Recipe | None = None
    train_size: int | None = None
    autoattack_rows: tuple = ("normal", "adversarial", "adversarial_pretrained", "last_layer")
    official_start_rows: tuple = ("normal", "adversarial", "adversarial_pretrained", "last_layer")
    train_start: str = "paper"
    autoattack_version: str = "standard"
    autoattack_iterations: int = TORCHATTACKS_ITERATIONS
    autoattack_square_queries: int = SQUARE_QUERIES
    test_step_fraction: float = 0.25
    eps_multiples: tuple = (0, 0.5, 1, 2, 4)
    curve_steps: int = 10
    steps_grid: tuple = (0, 1, 3, 10, 30)
    seeds: tuple = (0,)
    note: str = ""
    # Start adversarial pre-training from the clean source model (a quick-scale
    # compromise: from random weights, PGD training on the fractal source barely
    # learns in a CPU budget). The paper trains from scratch.
    source_warm_start: bool = False
    ablation_source: tuple | None = None
    ablation_architecture: str = "wrn-40-2"
    ablation_target: str = exclusion.CHECK_TARGET

    def __post_init__(self):
        if self.last_layer.tune != "last_layer":
            raise ValueError("the last_layer recipe must have tune='last_layer'")
        if min(self.train_steps, self.test_steps, self.source_steps, self.curve_steps) < 1:
            raise ValueError("PGD step counts must be >= 1")
        check_type("autoattack_iterations", self.autoattack_iterations, int)
        check_range("autoattack_iterations", self.autoattack_iterations, 1, None)
        if list(self.eps_multiples) != sorted(set(self.eps_multiples)) or self.eps_multiples[0] != 0:
            raise ValueError("eps_multiples must increase from 0")
        for row in self.autoattack_rows:
            check_choice("autoattack row", row, METHODS)
        for row in self.official_start_rows:
            check_choice("official_start row", row, METHODS)
        check_choice("train_start", self.train_start, PGD_STARTS)
        if self.ablation_source is not None:
            check_choice("ablation_target", self.ablation_target, self.targets)
            if self.source_warm_start:
                raise ValueError("the class-exclusion check pre-trains its sources from random "
                                 "weights, as the paper: it needs source_warm_start=False")

    def dry_run_changes(self) -> dict:
        """At a dry run (:mod:`lib.dry_run`), 2 images wherever a WRN-28-10
        trains or is attacked (each costs seconds on a CPU), and every attack
        shortened as epochs are: PGD of 2 steps, AutoAttack's gradient attacks
        of 1 iteration and Square of 10 queries, the step grid's first three
        counts (an untrained network resists a full AutoAttack for minutes)."""
        return {"source_data": replace(self.source_data, size=DRY_ADVERSARIAL_SIZE),
                **{name: DRY_ADVERSARIAL_SIZE
                   for name in ("train_size", "attack_size", "autoattack_size", "curve_size")},
                **{name: min(getattr(self, name), DRY_ATTACK_STEPS)
                   for name in ("train_steps", "test_steps", "source_steps", "curve_steps")},
                "autoattack_iterations": 1, "autoattack_square_queries": 10,
                "steps_grid": self.steps_grid[:3]}

    @property
    def test_step_size(self) -> float:
        return self.test_step_fraction * self.eps

    @property
    def train_params(self) -> tuple:
        """``objective_params`` of adversarial training on the target."""
        return _pgd_params(self.eps, self.train_steps, self.train_start)

    @property
    def source_params(self) -> tuple:
        """``objective_params`` of adversarial pre-training on the source."""
        return _pgd_params(self.eps, self.source_steps, self.train_start)

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        def step(k):
            return f"PGD-{k}, step 2.5ε/{k} = {2.5 * self.eps / k:.4g}"

        src = self.source_data
        return "\n".join([
            f"targets                : {list(self.targets)}",
            f"architecture           : {self.architecture}",
            f"ε (L∞, pixels in [0,1]): {self.eps_text} = {self.eps:.4g}",
            f"training adversary     : {step(self.train_steps)}, random start"
            + (", the official start (ball around the noisy start)"
               if self.train_start == "official" else ""),
            f"test adversary         : PGD-{self.test_steps}, step {self.test_step_fraction:g}ε = "
            f"{self.test_step_size:.4g}, random start, untargeted",
            f"official-start PGD     : rows {list(self.official_start_rows)}, "
            f"PGD-{self.test_steps} with the official start (ε-ball around the noisy start) "
            "on the same images",
            f"adversarial source     : {src.dataset.name} {dict(src.dataset.options)}, "
            f"{src.size or 'all'} images; {step(self.source_steps)}",
            f"  recipe               : {self.source_recipe}"
            + (", warm-started from the clean source model" if self.source_warm_start else ""),
            f"normal training        : {self.normal or 'the preset from-scratch recipe'}",
            f"adversarial training   : {self.scratch}",
            f"adversarial tuning     : {self.finetune}",
            f"last-layer tuning      : {self.last_layer}",
            f"target training images : {self.train_size or 'the preset training set'}",
            f"PGD test images        : {self.attack_size or 'all'} per target",
            f"AutoAttack images      : {self.autoattack_size or 'all'} per target, rows "
            f"{list(self.autoattack_rows)} (torchattacks {_torchattacks_version()}, "
            f"{self.autoattack_version} version: APGD-CE, APGD-T and FAB-T "
            f"{self.autoattack_iterations} iterations each, "
            + ("the original's strength" if self.autoattack_iterations == ORIGINAL_ITERATIONS
               else f"lighter than the original's {ORIGINAL_ITERATIONS}")
            + f"; Square {self.autoattack_square_queries:,} queries; at most 9 target classes, "
            "as the original)",
            f"sanity curves          : {self.curve_size} images; ε × {list(self.eps_multiples)} "
            f"under PGD-{self.curve_steps}; steps {list(self.steps_grid)}",
            f"seeds                  : {list(self.seeds)}",
        ] + exclusion.describe(self.ablation_source,
                               f"two {self.ablation_architecture} adversarially pre-trained "
                               f"(on the full source and without the classes), tuned on "
                               f"{self.ablation_target} as the pre-trained row, "
                               f"PGD-{self.test_steps}")
          + ([f"note                   : {self.note}"] if self.note else []))


def _paper(preset: Preset) -> AdversarialSettings:
    eps = 8 / 255
    return AdversarialSettings(
        preset=preset.name, targets=("cifar10", "cifar100"), architecture="wrn-28-10",
        eps=eps, eps_text="8/255", train_steps=10, test_steps=20,
        source_data=TrainingDataSpec(preset.source),
        source_recipe=Recipe(epochs=100, lr=0.1, batch_size=256),
        source_steps=10,
        scratch=Recipe(epochs=100, lr=0.1),
        finetune=Recipe(epochs=5, lr=0.001),
        last_layer=Recipe(epochs=5, lr=0.001, tune="last_layer"),
        attack_size=None, autoattack_size=None, curve_size=1000,
        autoattack_iterations=ORIGINAL_ITERATIONS,
        eps_multiples=(0, 0.5, 1, 2, 4, 8), seeds=(0,),
        # §3.3's class-exclusion check: "two 40-2 Wide ResNets"
        ablation_source=exclusion.excluded_source(preset), ablation_architecture="wrn-40-2",
        note="the paper's settings (official code: Downsampled ImageNet pre-training "
             "100 epochs, batch 256, no dropout); one seed, as adversarially training a "
             "WRN-28-10 costs about 11 clean runs",
    )


def _quick(preset: Preset) -> AdversarialSettings:
    return AdversarialSettings(
        preset=preset.name, targets=preset.targets, architecture=preset.architecture,
        eps=0.1, eps_text="0.1 (the usual MNIST-like budget)", train_steps=3, test_steps=20,
        # 25 of the source's 50 images per class (25,000 images), 6 epochs of PGD-2 from the clean source:
        # ~8 CPU minutes (shipped as a checkpoint like the clean source)
        source_data=TrainingDataSpec(preset.source, size=25_000),
        source_recipe=Recipe(epochs=6, lr=0.05), source_steps=2, source_warm_start=True,
        # Rates chosen per row by validation PGD-20 error among 2, 1 and ¼ times a fixed
        # base: 0.1 from scratch, the quick fine-tuning rate (0.05) for the tuned rows
        # (lib.selection, benchmarks/select_section_recipes.py,
        # results/quick_section_recipes.csv; every run float32, issue 23).
        scratch=Recipe(epochs=6, lr=0.2),
        finetune=Recipe(epochs=3, lr=0.05),
        last_layer=Recipe(epochs=3, lr=0.0125, tune="last_layer"),
        attack_size=1000, autoattack_size=50, autoattack_rows=("adversarial_pretrained",),
        # the official code's PGD start on the headline claim's two rows only: PGD-20 on the
        # 1,000 attacked images costs about 16 s a row on a 2-core CPU (the adversarial row's
        # evaluation between two runs in benchmarks/results/book_build_quick.log)
        official_start_rows=("adversarial", "adversarial_pretrained"),
        # Square's budget: 1,000 queries, not 5,000 (on the quick headline row's 50
        # images, 16 s instead of 54 s, and the same accuracy, 58%), for the book's budget
        autoattack_square_queries=1000,
        curve_size=300, seeds=(0,),  # one seed; the band is the test set's
        note="short runs for a 2-core CPU: the adversarial source is pre-trained on "
             "half the source images (25,000) for 6 epochs against PGD-2, "
             "warm-started from the clean source; adversarial training from scratch gets "
             "6 epochs at lr 0.2, tuning 3 at lr 0.05, last-layer tuning 3 at lr 0.0125 "
             "(each row's rate chosen by its validation PGD-20 error); AutoAttack "
             "only checks the headline row, on 50 images, and lighter than the original "
             "(torchattacks' default 10 iterations of APGD and FAB, not 100; Square with "
             "1,000 queries, not 5,000); the official code's PGD start is measured on the "
             "headline claim's two rows only",
    )


def _smoke(preset: Preset) -> AdversarialSettings:
    return AdversarialSettings(
        preset=preset.name, targets=preset.targets, architecture=preset.architecture,
        eps=0.1, eps_text="0.1 (the usual MNIST-like budget)", train_steps=2, test_steps=20,
        source_data=TrainingDataSpec(preset.source),
        source_recipe=Recipe(epochs=1, lr=0.1), source_steps=1,
        scratch=Recipe(epochs=2, lr=0.1),
        finetune=Recipe(epochs=1, lr=preset.finetune.lr),
        last_layer=Recipe(epochs=1, lr=preset.finetune.lr, tune="last_layer"),
        train_size=500, attack_size=100, autoattack_size=8,
        autoattack_rows=("adversarial_pretrained",), curve_size=50,
        steps_grid=(0, 1, 3, 10), seeds=preset.seeds,
        note="seconds-long runs that exercise the code, not the paper's claim",
    )


SETTINGS = per_preset(NAME, {"paper": _paper(PRESETS["paper"]), "quick": _quick(PRESETS["quick"]),
                             "smoke": _smoke(PRESETS["smoke"])})


def _resolve(preset: str | Preset) -> tuple[AdversarialSettings, Preset]:
    name = preset if isinstance(preset, str) else preset.name
    check_choice("preset", name, SETTINGS)
    preset = PRESETS[name] if isinstance(preset, str) else preset
    return settings_at(SETTINGS, preset), preset


# -- the runs ---------------------------------------------------------------------------------

def adversarial_source_run(preset: str | Preset, seed: int = 0, architecture: str | None = None,
                           source: DataSpec | None = None) -> RunConfig:
    """Adversarial pre-training on the source against an untargeted PGD
    adversary (paper §3.3), built like :func:`lib.experiments.source_run`
    (the source's held-out test error tracked every epoch) with the
    ``"adversarial"`` objective. A pure config builder: at quick the trained
    model ships as a checkpoint; ``train_or_load`` finds it by its key.
    ``architecture`` and ``source`` (a source variant, same images per class
    cap) default to the settings'; the class-exclusion check changes both."""
    s, preset = _resolve(preset)
    data = s.source_data if source is None else replace(s.source_data, dataset=source)
    architecture = architecture or s.architecture
    tag = "" if architecture == s.architecture else f":{architecture}"
    tag += "" if source is None else f":{dict(source.options)}"
    return released_source(RunConfig(
        architecture=architecture, in_channels=preset.in_channels, data=data,
        recipe=s.source_recipe, seed=seed,
        init=source_run(preset, seed) if s.source_warm_start else None,
        track=EvalDataSpec(data.dataset, size=source_track_size(preset, data.size),
                          split="test"),
        objective="adversarial", objective_params=s.source_params,
        label=f"adv-pretrain[{preset.name}:{data.dataset.name}{tag}]",
        world_size=preset.source_world_size), preset)


def row_run(preset: str | Preset, row: str, target: str | None = None, seed: int = 0) -> RunConfig:
    """The run of Table 3's ``row`` (a name in :data:`METHODS`) for ``target``."""
    check_choice("row", row, METHODS)
    s, preset = _resolve(preset)
    target = target or s.targets[0]
    check_choice("target", target, s.targets)
    arch = dict(architecture=s.architecture)
    data = (None if s.train_size is None
            else TrainingDataSpec(DataSpec.of(target), size=s.train_size))
    tag = f"{preset.name}:{target}:seed{seed}"
    if row == "normal":
        # track=True: at quick, the same run as the pre-training page's from-scratch model
        return scratch_run(preset, seed, data=data, target=target, track=True, recipe=s.normal,
                           **arch)
    adversarial = dict(objective="adversarial", objective_params=s.train_params, **arch)
    if row == "adversarial":
        return scratch_run(preset, seed, data=data, target=target, recipe=s.scratch,
                           label=f"adv-train[{tag}]", **adversarial)
    recipe = s.finetune if row == "adversarial_pretrained" else s.last_layer
    return finetune_run(preset, seed, data=data, target=target, recipe=recipe,
                        source=adversarial_source_run(preset),
                        label=f"adv-{'tune' if row == 'adversarial_pretrained' else 'last-layer'}"
                              f"[{tag}]", **adversarial)


def check_runs(preset: str | Preset, seed: int = 0) -> dict:
    """The class-exclusion check's tuned models: ``{source: RunConfig}`` for
    the full source ("") and the settings' ``ablation_source`` (its label),
    each ``ablation_architecture`` adversarially pre-trained on that source
    (:func:`adversarial_source_run`) then adversarially tuned on CIFAR-10 as
    Table 3's ``adversarial_pretrained`` row; ``{}`` without an ablation source."""
    s, preset = _resolve(preset)
    if s.ablation_source is None:
        return {}
    target, architecture = s.ablation_target, s.ablation_architecture
    data = (None if s.train_size is None
            else TrainingDataSpec(DataSpec.of(target), size=s.train_size))
    label, spec = s.ablation_source
    out = {}
    for name, source in (("", None), (label, spec)):
        init = adversarial_source_run(preset, architecture=architecture, source=source)
        out[name] = finetune_run(
            preset, seed, data=data, target=target, recipe=s.finetune, source=init,
            architecture=architecture, objective="adversarial", objective_params=s.train_params,
            label=f"adv-tune[{preset.name}:{target}:{architecture}:{name or 'full source'}:"
                  f"seed{seed}]")
    return out


def table3_runs(preset: str | Preset, target: str | None = None, seed: int = 0) -> dict:
    """Every row's run for ``target``: ``{row: RunConfig}`` in :data:`METHODS` order."""
    return {row: row_run(preset, row, target, seed) for row in METHODS}


def cells(settings: AdversarialSettings) -> list[dict]:
    """Table 3's cells: one per target × seed."""
    return [dict(target=t, seed=seed) for t in settings.targets for seed in settings.seeds]


@dataclass(frozen=True)
class _Planning:
    """What a :class:`Method` reads from its context when only planning."""

    preset: Preset


def plan(preset: Preset) -> list[RunConfig]:
    """Every run of §3.3: the adversarial source (after its clean warm-start
    parent, where there is one), then Table 3's rows for every target × seed."""
    s, preset = _resolve(preset)
    source = adversarial_source_run(preset)
    runs = [source.init] if source.init is not None else []
    runs.append(source)
    context = _Planning(preset)
    for cell in cells(s):
        for method in METHODS.values():
            for arm in method.arms:
                runs += method.plan(context, arm, cell)
    for seed in s.seeds:  # the class-exclusion check, each source before its tuned model
        for config in check_runs(preset, seed).values():
            runs += [config.init, config]
    return runs


# -- evaluations ------------------------------------------------------------------------------

def attack_test_data(preset: str | Preset, target: str, size: int | None = None) -> EvalDataSpec:
    """The test images attacked for ``target``: a class-stratified subset of
    ``size`` (default: the settings' ``attack_size``; ``None`` = the preset's
    test set)."""
    s, preset = _resolve(preset)
    size = size if size is not None else s.attack_size
    caps = [c for c in (size, preset.test_size) if c is not None]
    return EvalDataSpec(DataSpec.of(target), size=min(caps) if caps else None)


def _torchattacks_version() -> str:
    try:
        return version("torchattacks")
    except PackageNotFoundError:  # pragma: no cover - a requirement of the project
        return "absent"


@dataclass(frozen=True)
class Evaluation:
    """One memoized evaluation of a trained model (:func:`evaluate`):
    ``metric`` (percent) on the images ``data`` (shown as ``eval_set``) under
    ``attack`` ("clean", "pgd" or "autoattack") with ``params``, the (name, value) pairs that change the
    result — ε, step, steps, the random start's seed, PGD's start, AutoAttack's
    version, iterations and implementation — and nothing else (no settings'
    prose, no batch size). AutoAttack's ``iterations`` appear only when they
    differ from torchattacks' default, and PGD's ``start`` only when it is the
    official one, so the memo keys of the defaults stay those recorded before
    the parameters existed."""

    metric: str
    eval_set: str
    attack: str
    data: EvalDataSpec
    params: tuple = ()

    def __post_init__(self):
        check_choice("attack", self.attack, ("clean", "pgd", "autoattack"))

    @property
    def memo_name(self) -> str:
        """The memo's name for it (a clean accuracy is the shared clean evaluation)."""
        return "clean_evaluation" if self.attack == "clean" else f"{NAME}.{self.attack}_accuracy"

    def axes(self) -> dict:
        """The row's axis values: ε and the step count where the attack has them."""
        p = dict(self.params)
        return {axis: p[axis] for axis in ("eps", "steps") if axis in p}

    def measure(self, model, images, device) -> float:
        """Accuracy (percent) of ``model`` on ``images`` (the built ``data``)
        under the attack (a clean accuracy is :func:`evaluate`'s, shared)."""
        p = dict(self.params)
        if self.attack == "pgd":
            return 100 * pgd_accuracy(model, images, device, p["eps"], p["step_size"], p["steps"],
                                      p["seed"], random_start=p["random_start"],
                                      start=p.get("start", "paper"))
        return 100 * autoattack_on(model, images, p["eps"], p["seed"], p["version"],
                                   iterations=p.get("iterations", TORCHATTACKS_ITERATIONS),
                                   square_queries=p.get("square_queries", SQUARE_QUERIES))


def _clean(metric: str, eval_set: str, data: EvalDataSpec) -> Evaluation:
    return Evaluation(metric, eval_set, "clean", data)


def pgd_evaluation(metric: str, eval_set: str, data: EvalDataSpec, eps: float,
                   step_size: float, steps: int, seed: int, start: str = "paper") -> Evaluation:
    """PGD-``steps`` accuracy (step ``step_size`` in the ε-ball, random start from
    ``seed``) on ``data``, as ``metric`` shown as ``eval_set``. ``start``: where
    the ball is centred (:func:`lib.attacks.pgd_linf`); it enters the params
    (and the memo key) only when it is not the default ``"paper"``."""
    check_choice("start", start, PGD_STARTS)
    return Evaluation(metric, eval_set, "pgd", data, (
        ("eps", float(eps)), ("step_size", float(step_size)), ("steps", int(steps)),
        ("seed", int(seed)), ("random_start", True),
        *((("start", start),) if start != "paper" else ())))


def _autoattack(s: AdversarialSettings, data: EvalDataSpec, seed: int) -> Evaluation:
    iterations = () if s.autoattack_iterations == TORCHATTACKS_ITERATIONS else (
        ("iterations", int(s.autoattack_iterations)),)
    queries = () if s.autoattack_square_queries == SQUARE_QUERIES else (
        ("square_queries", int(s.autoattack_square_queries)),)
    return Evaluation("autoattack_accuracy", "autoattack", "autoattack", data, (
        ("eps", float(s.eps)), ("seed", int(seed)), ("version", s.autoattack_version),
        *iterations, *queries, ("implementation", f"torchattacks {_torchattacks_version()}")))


def robustness_evaluations(preset: str | Preset, row: str, target: str,
                           seed: int = 0) -> list[Evaluation]:
    """Table 3's evaluations of ``row``: clean and PGD-``test_steps`` accuracy
    on the attacked test set (``eval_set`` "pgd"); for the AutoAttack rows,
    clean, PGD and AutoAttack accuracy on the same smaller set ("autoattack"),
    so the two attacks compare on the same images."""
    s, preset = _resolve(preset)
    check_choice("row", row, METHODS)
    out = _scored(s, attack_test_data(preset, target), "pgd", seed)
    if row in s.autoattack_rows:
        data = attack_test_data(preset, target, s.autoattack_size)
        out += _scored(s, data, "autoattack", seed) + [_autoattack(s, data, seed)]
    return out


OFFICIAL_START_METRIC = "pgd_accuracy_official_start"


def official_start_evaluations(preset: str | Preset, row: str, target: str,
                               seed: int = 0) -> list[Evaluation]:
    """PGD-``test_steps`` accuracy of ``row`` under the official code's start
    (metric :data:`OFFICIAL_START_METRIC`, eval set "pgd"): the same attacked
    images, ε, step, steps and random noise (``seed``) as Table 3's PGD
    accuracy, only the ε-ball centred on the noisy start
    (:func:`lib.attacks.pgd_linf`, ``start="official"``); none for a row not in
    ``official_start_rows``."""
    s, preset = _resolve(preset)
    check_choice("row", row, METHODS)
    if row not in s.official_start_rows:
        return []
    return [pgd_evaluation(OFFICIAL_START_METRIC, "pgd", attack_test_data(preset, target),
                           s.eps, s.test_step_size, s.test_steps, seed, start="official")]


def check_evaluations(preset: str | Preset, seed: int = 0) -> list[Evaluation]:
    """The class-exclusion check's evaluations (the paper: PGD-20 only): clean
    and PGD-``test_steps`` accuracy on CIFAR-10's attacked test set."""
    s, preset = _resolve(preset)
    return _scored(s, attack_test_data(preset, s.ablation_target), "pgd", seed)


def _scored(s: AdversarialSettings, data: EvalDataSpec, eval_set: str,
            seed: int) -> list[Evaluation]:
    """Clean and PGD-``test_steps`` accuracy on ``data``, shown as ``eval_set``."""
    return [_clean("clean_accuracy", eval_set, data),
            pgd_evaluation("pgd_accuracy", eval_set, data, s.eps, s.test_step_size, s.test_steps,
                           seed)]


def sanity_evaluations(preset: str | Preset, row: str, target: str,
                       seed: int = 0) -> list[Evaluation]:
    """The sanity curves of ``row`` (those of :data:`SANITY_CURVES`, on the
    first target and seed; else none), on ``curve_size`` test images: clean
    accuracy; accuracy against ε (``eps_multiples`` × ε under
    PGD-``curve_steps``, step ``test_step_fraction``·ε); and against the number
    of PGD steps at ε (``steps_grid``, step ``test_step_size``). Every point
    starts from the same random noise (one ``seed``)."""
    s, preset = _resolve(preset)
    if row not in SANITY_CURVES or (target, seed) != (s.targets[0], s.seeds[0]):
        return []
    data = attack_test_data(preset, target, s.curve_size)
    out = [_clean("clean_accuracy", "sanity", data)]
    if "eps" in SANITY_CURVES[row]:
        for eps in (float(m * s.eps) for m in s.eps_multiples):
            out.append(pgd_evaluation("sanity_eps", "sanity", data, eps,
                                      s.test_step_fraction * eps, s.curve_steps, seed))
    if "steps" in SANITY_CURVES[row]:
        out += [pgd_evaluation("sanity_steps", "sanity", data, s.eps, s.test_step_size, k, seed)
                for k in s.steps_grid]
    return out


def evaluate(evaluation: Evaluation, run, images, device, runs_dir=None) -> dict:
    """``evaluation`` of the trained ``run`` ({"value": percent, "n": images}),
    from the evaluation memo when present; ``images(spec)`` builds the data
    only when it must be computed. A clean accuracy is 100 − the clean test
    error of :func:`lib.evaluation.clean.clean_evaluation`, the one clean
    evaluation every section shares."""
    if evaluation.attack == "clean":
        clean = clean_evaluation(run, evaluation.data, device, runs_dir=runs_dir,
                                 load=lambda: images(evaluation.data))
        return {"value": 100.0 - clean["error"], "n": clean["n"]}

    def compute():
        data = images(evaluation.data)
        return {"value": evaluation.measure(run.model, data, device), "n": len(data)}

    return memoized(evaluation.memo_name, run, [evaluation.data], dict(evaluation.params),
                    compute, device=device, runs_dir=runs_dir)


def _entry(evaluation: Evaluation, result: dict) -> dict:
    return dict(metric=evaluation.metric, value=result["value"], unit="%", n=result["n"],
                eval_set=evaluation.eval_set, **evaluation.axes())


def history_entries(run) -> list[dict]:
    """The adversarial source's per-epoch history (``epoch`` axis): training
    loss and accuracy on the adversarial examples it trains on, and the clean
    source test error."""
    out = []
    for h in run.history:
        out += [dict(metric="train_loss", value=h["loss"], unit="nats", epoch=h["epoch"],
                     eval_set="adversarial train"),
                dict(metric="train_accuracy", value=100 * h["accuracy"], unit="%",
                     epoch=h["epoch"], eval_set="adversarial train")]
        if h.get("test_error") is not None:
            out.append(dict(metric="test_error", value=100 * h["test_error"], unit="%",
                            epoch=h["epoch"], eval_set="source test"))
    return out


def cost_entries(run) -> list[dict]:
    """What training ``run`` cost: epochs and training images processed (the
    training time is the rows' ``wall_time_s``)."""
    images = sum(h["images_per_s"] * h["seconds"] for h in run.history)
    return [dict(metric="epochs", value=len(run.history), unit="epochs"),
            dict(metric="training_images", value=round(images), unit="images")]


def run(session) -> list[dict]:
    """Train or load the adversarial source and every row of Table 3 for each
    target × seed (through ``session.train``), evaluate them (memoized) and
    return the rows: clean / PGD / AutoAttack accuracy, PGD accuracy under the
    official start (the ``official_start_rows``), the sanity curves, the
    training cost and the source's per-epoch history."""
    s, preset = session.settings, session.preset
    images = functools.cache(lambda spec: spec.build(session.data_root))
    source = session.train(adversarial_source_run(preset))
    rows = session.rows(source, history_entries(source) + cost_entries(source),
                        dataset=source.config.data.dataset.name, method=SOURCE_METHOD,
                        arm="pretrained")
    for cell in cells(s):
        for name, method in METHODS.items():
            for arm in method.arms:
                trained = method.train(session, arm, cell)
                evaluations = (robustness_evaluations(preset, name, cell["target"], cell["seed"])
                               + official_start_evaluations(preset, name, cell["target"],
                                                            cell["seed"])
                               + sanity_evaluations(preset, name, cell["target"], cell["seed"]))
                entries = [_entry(e, evaluate(e, trained, images, session.device,
                                              session.runs_dir)) for e in evaluations]
                rows += session.rows(trained, entries + cost_entries(trained),
                                     dataset=cell["target"], method=name, arm=arm)
    for seed in s.seeds:  # the class-exclusion check
        for source, config in check_runs(preset, seed).items():
            trained = session.train(config)
            entries = [_entry(e, evaluate(e, trained, images, session.device, session.runs_dir))
                       for e in check_evaluations(preset, seed)]
            rows += session.rows(trained, entries, dataset=s.ablation_target,
                                 method=CHECK_METHOD, arm="pretrained", source=source)
    return rows


# -- tables and figures -----------------------------------------------------------------------

def _titles() -> dict:
    return {name: method.title for name, method in METHODS.items()}


def _ours(preset: Preset) -> str:
    return f"ours ({preset.name} preset)"


def _accuracies(rows: pd.DataFrame, eval_set: str, columns: dict,
                source: str = "") -> pd.DataFrame:
    """Mean over seeds of ``columns`` (metric → column name) on ``eval_set``,
    indexed by (dataset, method), of the models pre-trained on ``source`` ("" =
    the preset's, or no pre-training; a variant's label: the exclusion check)."""
    part = rows[(rows.eval_set == eval_set) & rows.metric.isin(list(columns))
                & (rows.source == source)]
    table = part.groupby(["dataset", "method", "metric"]).value.mean().unstack("metric")
    return table.reindex(columns=list(columns)).rename(columns=columns)


def table3(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """Table 3, ours: clean and PGD accuracy (%) per row and target, mean over
    seeds; where the preset runs the class-exclusion check, its two models and
    their difference below (:func:`check_table_rows`)."""
    columns = {"clean_accuracy": "clean", "pgd_accuracy": f"PGD-{settings.test_steps}"}
    table = _accuracies(rows, "pgd", columns).unstack("dataset")
    table = table.swaplevel(axis=1).reindex(
        columns=[(t, c) for t in settings.targets for c in columns.values()])
    seeds = rows[rows.method.isin(list(METHODS))].seed.nunique()
    table = table.reindex(list(METHODS)).rename(index=_titles())
    if settings.ablation_source is not None:
        table = pd.concat([table, check_table_rows(rows, settings).reindex(
            columns=table.columns)])
    return (table.astype(float).round(1)
            .rename_axis(f"{_ours(preset)}, mean over {seeds} seed{'s' if seeds != 1 else ''}"))


def pgd_start_table(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """Table 3's PGD-``test_steps`` accuracy (%, mean over seeds) of the
    ``official_start_rows`` under both random starts, on the same images and
    from the same noise: ours (the ε-ball around the clean image, the paper's
    threat model) and the official code's (the ball around the noisy start,
    reach up to 2ε), and how much the official start moves the number."""
    pgd = f"PGD-{settings.test_steps}"
    ours, official = f"{pgd}, ours", f"{pgd}, official start"
    table = _accuracies(rows, "pgd", {"pgd_accuracy": ours, OFFICIAL_START_METRIC: official})
    table = table[table[official].notna()]
    if table.empty:
        return (f"No {pgd} accuracy under the official start in these rows "
                f"(official_start_rows: {list(settings.official_start_rows)}).")
    table["official − ours"] = table[official] - table[ours]
    table = table.unstack("dataset").swaplevel(axis=1)
    targets = [t for t in settings.targets if t in table.columns.get_level_values(0)]
    table = table.reindex(columns=[(t, c) for t in targets
                                   for c in (ours, official, "official − ours")])
    table = table.reindex([m for m in METHODS if m in table.index]).rename(index=_titles())
    seeds = rows[rows.metric == OFFICIAL_START_METRIC].seed.nunique()
    return (table.astype(float).round(1)
            .rename_axis(f"{_ours(preset)}, mean over {seeds} seed{'s' if seeds != 1 else ''}"))


def check_table_rows(rows, settings: AdversarialSettings) -> pd.DataFrame:
    """The class-exclusion check's rows of Table 3 (CIFAR-10 clean and PGD
    accuracy, %, mean over seeds): the ``ablation_architecture`` pre-trained
    on the full source, on the source without the classes, and the change."""
    columns = {"clean_accuracy": "clean", "pgd_accuracy": f"PGD-{settings.test_steps}"}
    label, target = settings.ablation_source[0], settings.ablation_target
    title = f"{METHODS['adversarial_pretrained'].title}, {settings.ablation_architecture}"

    def accuracies(source):
        table = _accuracies(rows, "pgd", columns, source)
        return (table.loc[(target, CHECK_METHOD)] if (target, CHECK_METHOD) in table.index
                else pd.Series(np.nan, index=list(columns.values())))

    full, checked = accuracies(""), accuracies(label)
    frame = pd.DataFrame([full, checked, checked - full], index=[
        f"{title}, full source (class-exclusion check)", f"{title}, source {label}",
        f"  change from the full source (the paper: PGD-{settings.test_steps} "
        f"{PAPER_CHECK_CHANGE:+.2f})"])
    frame.columns = pd.MultiIndex.from_tuples([(target, c) for c in frame.columns])
    return frame


def paper_table3(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """The paper's Table 3 (and §3.3's last-layer numbers), labelled as the
    paper's; where the settings run the class-exclusion check, §3.3's one number
    of it (the change in adversarial accuracy of its WRN-40-2) below."""
    columns = ("clean", "adversarial")
    table = pd.DataFrame({(PAPER_NAMES[t], column): [PAPER_TABLE3[t][r][i] for r in METHODS]
                          for t in PAPER_TABLE3 for i, column in enumerate(columns)},
                         index=pd.Index([m.title for m in METHODS.values()],
                                        name="the paper's Table 3 (WRN-28-10, ε = 8/255, PGD-20)"))
    if settings is not None and settings.ablation_source is not None:
        table.loc[f"WRN-40-2, source {settings.ablation_source[0]}: change from the full "
                  "source (§3.3's text)"] = [PAPER_CHECK_CHANGE if c == ("CIFAR-10", "adversarial")
                                             else None for c in table.columns]
        table = table.rename_axis("the paper's Table 3 (WRN-28-10, ε = 8/255, PGD-20); last "
                                  "row: §3.3's text, WRN-40-2")
    return table.astype(object).where(table.notna(), "—")


def autoattack_table(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """PGD and AutoAttack accuracy (%) on the same images, and how much PGD
    overstates robustness; the paper's CIFAR-10 model as the reference
    (PGD-20 from the paper, AutoAttack from RobustBench)."""
    pgd = f"PGD-{settings.test_steps}"
    table = _accuracies(rows, "autoattack", {"clean_accuracy": "clean", "pgd_accuracy": pgd,
                                             "autoattack_accuracy": "AutoAttack"})
    table["PGD overstates by"] = table[pgd] - table["AutoAttack"]
    table = table.rename(index=_titles(), level="method").round(1)
    table.index = pd.MultiIndex.from_tuples([(d, f"{m}, {_ours(preset)}") for d, m in table.index],
                                            names=["dataset", "model"])
    clean, robust = PAPER_TABLE3["cifar10"]["adversarial_pretrained"]
    autoattack = ROBUSTBENCH_AUTOATTACK_CIFAR10
    reference = pd.DataFrame(
        [[clean, robust, autoattack, round(robust - autoattack, 2)]],
        columns=table.columns, index=pd.MultiIndex.from_tuples(
            [("cifar10", "the paper's model, for reference (clean and PGD-20: the paper; "
                         "AutoAttack: RobustBench)")], names=table.index.names))
    return pd.concat([table, reference])


def source_history(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """The adversarial source's training curve, one row per epoch."""
    part = rows[(rows.method == SOURCE_METHOD) & rows.epoch.notna()]
    columns = {"train_loss": "loss (nats)", "train_accuracy": "adversarial train acc. (%)",
               "test_error": "clean source test error (%)"}
    table = part.pivot_table(index="epoch", columns="metric", values="value", aggfunc="mean")
    return table.reindex(columns=[c for c in columns if c in table.columns]).rename(
        columns=columns).round(2).rename_axis(columns=None)


def sanity_verdicts(rows) -> list[tuple[str, bool]]:
    """The attack's sanity checks on the sanity rows, as (text, passed): for
    each curve of :data:`SANITY_CURVES`, accuracy at ε = 0 equals the clean
    accuracy on the same images; it falls as ε grows and is near 0
    (≤ :data:`NEAR_ZERO` %) at the largest ε; more PGD steps never raise it.
    "Falls" allows 2 binomial standard errors of the largest value."""
    checks = []
    titles = _titles()
    part = rows[rows.eval_set == "sanity"]
    for (dataset, method), frame in part.groupby(["dataset", "method"], sort=False):
        who = f"{titles.get(method, method)} ({dataset})"
        clean = frame[frame.metric == "clean_accuracy"].value
        by_eps = frame[frame.metric == "sanity_eps"].sort_values("eps")
        if len(by_eps):
            at_zero = by_eps[by_eps.eps == 0].value
            checks.append((f"{who}: ε = 0 gives the clean accuracy "
                           f"({at_zero.iloc[0]:.1f}% = {clean.iloc[0]:.1f}%)",
                           len(at_zero) == 1 and len(clean) == 1
                           and bool(np.isclose(at_zero.iloc[0], clean.iloc[0]))))
            tolerance = 2 * binomial_se(by_eps.value.max(), int(by_eps.n.iloc[0]))
            checks.append((f"{who}: accuracy falls as ε grows (±{tolerance:.1f} points)",
                           non_increasing(by_eps.value, tolerance)))
            last = by_eps.iloc[-1]
            checks.append((f"{who}: near 0 at ε = {last.eps:.3g} ({last.value:.1f}%, at most "
                           f"{NEAR_ZERO:g}%)", bool(last.value <= NEAR_ZERO)))
        by_steps = frame[frame.metric == "sanity_steps"].sort_values("steps")
        if len(by_steps):
            tolerance = 2 * binomial_se(by_steps.value.max(), int(by_steps.n.iloc[0]))
            checks.append((f"{who}: more PGD steps never raise accuracy (±{tolerance:.1f} points)",
                           non_increasing(by_steps.value, tolerance)))
    return checks


def trustworthy(rows) -> bool:
    """Whether every sanity check passed (and there was one)."""
    checks = sanity_verdicts(rows)
    return bool(checks) and all(ok for _, ok in checks)


def sanity_checks(rows, settings: AdversarialSettings, preset: Preset) -> str:
    """The sanity checks as Markdown PASS/FAIL lines and their verdict: a
    failing check says loudly that the evaluation is not trustworthy."""
    checks = sanity_verdicts(rows)
    if not checks:
        return ("**FAIL: no sanity check ran** (no sanity rows): the evaluation is not "
                "trustworthy.")
    lines = [f"- {'PASS' if ok else '**FAIL**'} {text}" for text, ok in checks]
    failed = sum(not ok for _, ok in checks)
    verdict = (f"**FAIL: {failed} of {len(checks)} attack sanity checks failed — the evaluation "
               "is not trustworthy**, and Table 3's adversarial accuracies should not be read "
               "as robustness." if failed else
               f"All {len(checks)} sanity checks pass: the attack behaves as an attack should.")
    return "\n".join(lines + ["", verdict])


def cost(rows, settings: AdversarialSettings, preset: Preset) -> pd.DataFrame:
    """What each run cost: epochs, throughput (training images per second of
    training wall time) and minutes, as recorded when it was trained."""
    part = rows[rows.metric.isin(["epochs", "training_images"])]
    table = part.pivot_table(index=["dataset", "method", "seed"], columns="metric",
                             values="value", aggfunc="first")
    seconds = part.groupby(["dataset", "method", "seed"]).wall_time_s.first()
    order = [SOURCE_METHOD, *METHODS]
    table = pd.DataFrame({"epochs": table["epochs"].astype(int),
                          "images/s": table["training_images"] / seconds.clip(lower=1e-9),
                          "minutes": seconds / 60}).reset_index()
    table["order"] = table.method.map(order.index)
    table["method"] = table.method.map({**_titles(), SOURCE_METHOD: SOURCE_TITLE})
    return (table.sort_values(["order", "dataset", "seed"]).drop(columns="order")
            .rename(columns={"method": "run", "dataset": "trained on"})
            .set_index(["run", "trained on", "seed"]).round(2))


def sanity_curves(rows, settings: AdversarialSettings, preset: Preset):
    """Accuracy against ε (left) and against the number of PGD steps (right)."""
    titles = _titles()
    part = rows[rows.eval_set == "sanity"]
    fig, (ax_eps, ax_steps) = plt.subplots(1, 2, figsize=(9, 3.2))
    n = int(part.n.dropna().iloc[0]) if part.n.notna().any() else 0
    for (dataset, method), frame in part[part.metric == "sanity_eps"].groupby(
            ["dataset", "method"], sort=False):
        frame = frame.sort_values("eps")
        ax_eps.plot(frame.eps.astype(float), frame.value, marker="o", label=titles[method])
    ax_eps.axvline(settings.eps, color="gray", linestyle="--", linewidth=1)
    ax_eps.set(xlabel="ε (pixels in [0, 1])", ylabel="accuracy (%)", ylim=(0, 100),
               title=f"PGD-{settings.curve_steps}, step ε/4 ({n} images)")
    ax_eps.legend(fontsize=8)
    for (dataset, method), frame in part[part.metric == "sanity_steps"].groupby(
            ["dataset", "method"], sort=False):
        frame = frame.sort_values("steps")
        ax_steps.plot(frame.steps.astype(int), frame.value, marker="o", color="C1",
                      label=titles[method])
        ax_steps.set_title(f"{titles[method]}, ε = {settings.eps:.4g}")
    ax_steps.set(xlabel="PGD steps (0 = random start only)", ylabel="accuracy (%)", ylim=(0, 100))
    fig.tight_layout()
    return fig


# -- claims -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ClaimSpec:
    """One claim of §3.3: ``pretrained`` against ``scratch`` (Table 3 rows) on
    ``metric`` (eval set "pgd"), higher is better; the paper's differences per
    CIFAR dataset (points)."""

    key: str
    statement: str
    metric: str
    scratch: str
    pretrained: str
    magnitude_name: str
    paper: dict
    note: str = ""


def _claim_specs(s: AdversarialSettings) -> tuple:
    pgd = f"PGD-{s.test_steps}"
    return (
        _ClaimSpec("adversarial_pretraining", f"Adversarial pre-training and tuning beats "
                   f"adversarial training from scratch under {pgd}", "pgd_accuracy",
                   "adversarial", "adversarial_pretrained", f"gain in {pgd} accuracy (points)",
                   {"cifar10": 11.6, "cifar100": 9.2}),
        _ClaimSpec("adversarial_last_layer", f"Adversarially tuning only the last layer of the "
                   f"adversarially pre-trained network beats adversarial training from scratch "
                   f"under {pgd}", "pgd_accuracy", "adversarial", "last_layer",
                   f"gain in {pgd} accuracy (points)", {"cifar10": 0.8, "cifar100": 1.8}),
        _ClaimSpec("adversarial_clean_accuracy", "Adversarial pre-training and tuning costs no "
                   "clean accuracy against adversarial training from scratch (the paper: about "
                   "the same)", "clean_accuracy", "adversarial", "adversarial_pretrained",
                   "difference in clean accuracy (points)", {"cifar10": -0.2, "cifar100": 0.1},
                   note="The paper finds the two about the same: a difference inside the noise "
                        "band agrees with it, as does a gain; a resolved loss does not."),
    )


def _paper_text(spec: _ClaimSpec, dataset: str) -> tuple[str, str]:
    """The paper's values and magnitude for ``dataset`` (both CIFARs when it
    is not one of the paper's)."""
    metric = 0 if spec.metric == "clean_accuracy" else 1
    datasets = [dataset] if dataset in PAPER_TABLE3 else list(PAPER_TABLE3)

    def values(d):
        return (f"{PAPER_TABLE3[d][spec.scratch][metric]} → "
                f"{PAPER_TABLE3[d][spec.pretrained][metric]}")

    if dataset in PAPER_TABLE3:
        return values(dataset), f"{spec.paper[dataset]:+.1f} points"
    return ("; ".join(f"{PAPER_NAMES[d]} {values(d)}" for d in datasets),
            ", ".join(f"{spec.paper[d]:+.1f} ({PAPER_NAMES[d]})" for d in datasets) + " points")


def claims(rows, settings: AdversarialSettings, preset: Preset) -> list[Claim]:
    """§3.3's claims per target, the headline first: on the attacked test set
    (eval set "pgd"), the pre-trained row against adversarial training from
    scratch. The band: the seeds' spread with two or more seeds, else the
    binomial sampling error of each arm's accuracy on its ``n`` attacked
    images (:func:`lib.claims.arm_band`). Last, where the preset runs it, the
    class-exclusion check (:func:`exclusion_claim`)."""
    main = exclusion.main_rows(rows[rows.eval_set == "pgd"])
    notes = () if trustworthy(rows) else (
        "**An attack sanity check failed on this page: these accuracies are not trustworthy.**",)
    out = []
    for target in settings.targets:
        for spec in _claim_specs(settings):
            part = main[(main.dataset == target) & (main.metric == spec.metric)
                        & main.method.isin([spec.scratch, spec.pretrained])]
            per_seed = part.assign(arm=np.where(part.method == spec.scratch, "scratch",
                                                "pretrained"))[["arm", "seed", "value", "n"]]
            if set(per_seed.arm) != {"scratch", "pretrained"}:
                raise ValueError(f"claim {spec.key!r} on {target}: rows for {spec.scratch!r} and "
                                 f"{spec.pretrained!r} ({spec.metric}) are missing")
            means = per_seed.groupby("arm").value.mean()
            images = per_seed.groupby("arm").n.first()
            band, kind = arm_band(per_seed, lambda arm: binomial_se(means[arm], int(images[arm])))
            paper_values, paper_magnitude = _paper_text(spec, target)
            out.append(Claim(
                key=spec.key, section=NAME, dataset=target, statement=spec.statement,
                metric=METRIC_NAMES[spec.metric].format(steps=settings.test_steps), unit="%",
                scratch=float(means["scratch"]), pretrained=float(means["pretrained"]),
                better="higher", band=band,
                band_kind=kind, seeds=seed_count(per_seed),
                magnitude=float(means["pretrained"] - means["scratch"]),
                magnitude_name=spec.magnitude_name, paper_values=paper_values,
                paper_magnitude=paper_magnitude, preset=preset.name,
                paper_differences=tuple(
                    (PAPER_NAMES[d], spec.paper[d]) for d in
                    ([target] if target in PAPER_TABLE3 else PAPER_TABLE3) if d in spec.paper),
                labels=(METHODS[spec.scratch].title, METHODS[spec.pretrained].title),
                notes=tuple(n for n in (spec.note,) if n) + notes))
    checked = exclusion_claim(rows, settings, preset, notes)
    return out + ([checked] if checked is not None else [])


def exclusion_claim(rows, settings: AdversarialSettings, preset: Preset,
                    notes: tuple = ()) -> Claim | None:
    """§3.3's class-exclusion check: the ``ablation_architecture`` adversarially
    pre-trained without the CIFAR-10-related classes and tuned shows "only a
    1.04% decrease in adversarial accuracy" (read as points of PGD-20 accuracy)
    against the one pre-trained on the full source, a similarity claim
    (:func:`lib.sections.exclusion.similarity_claim`) scaled by the paper's gain
    from adversarial pre-training on CIFAR-10 (11.6 points); ``None`` without
    the check's rows."""
    if settings.ablation_source is None:
        return None
    label, target = settings.ablation_source[0], settings.ablation_target
    part = rows[(rows.eval_set == "pgd") & (rows.metric == "pgd_accuracy")
                & (rows.method == CHECK_METHOD) & (rows.dataset == target)
                & rows.source.isin(["", label])]
    per_seed = part.assign(arm=np.where(part.source == label, "pretrained", "scratch"))[
        ["arm", "seed", "value", "n"]]
    if set(per_seed.arm) != {"scratch", "pretrained"}:
        return None
    means = per_seed.groupby("arm").value.mean()
    images = per_seed.groupby("arm").n.first()
    band, kind = arm_band(per_seed, lambda arm: binomial_se(means[arm], int(images[arm])))
    pgd, architecture = f"PGD-{settings.test_steps}", settings.ablation_architecture
    gain = next(spec for spec in _claim_specs(settings)
                if spec.key == "adversarial_pretraining").paper["cifar10"]
    def epochs(n: int) -> str:
        return f"{n} epoch{'s' if n != 1 else ''}"

    recipe = (f"The paper gives no recipe for its two WRN-40-2: both are pre-trained and tuned "
              f"as Table 3's {settings.architecture} ({epochs(settings.source_recipe.epochs)} "
              f"against PGD-{settings.source_steps} on the source, "
              f"{epochs(settings.finetune.epochs)} of tuning at lr {settings.finetune.lr:g}), "
              f"and the tolerance is scaled by the paper's gain from adversarial pre-training "
              f"({gain:+.1f} points, WRN-28-10).")
    return exclusion.similarity_claim(
        key="adversarial_pgd_without_cifar10_classes", section=NAME, dataset=target,
        statement=f"Adversarial pre-training without the CIFAR-10-related classes gives a "
                  f"similar {pgd} accuracy ({architecture})",
        metric=f"{pgd} accuracy, {architecture} adversarially pre-trained and tuned", unit="%",
        full=float(means["scratch"]), excluded=float(means["pretrained"]), better="higher",
        band=band, band_kind=kind, seeds=seed_count(per_seed),
        paper_values=f"WRN-40-2, adversarial accuracy {PAPER_CHECK_CHANGE:+.2f} points "
                     "without the classes (its accuracies are not given)",
        paper_difference=PAPER_CHECK_CHANGE, paper_gain=gain, preset=preset.name,
        notes=(recipe, *notes))


def recipe_selection(rows=None, settings=None, preset=None):
    """The recorded choice of the quick rate of each adversarially trained row,
    by validation PGD-20 error (``benchmarks/select_section_recipes.py``)."""
    table = recorded_section_recipes(NAME)
    if isinstance(table, str):
        return table
    return table.drop(columns=["section", "dropout"]).rename(  # one section, no dropout
        columns={"validation_error": "PGD-20 error (validation)"})


SECTION = Section(
    name=NAME, title="Adversarial robustness", paper="§3.3, Table 3", settings=SETTINGS,
    plan=plan, run=run, claims=claims,
    tables={"table3": table3, "paper_table3": paper_table3, "autoattack": autoattack_table,
            "source_history": source_history, "sanity_checks": sanity_checks, "cost": cost,
            "recipe_selection": recipe_selection, "pgd_start": pgd_start_table},
    figures={"sanity_curves": sanity_curves},
)
SECTIONS.add(SECTION.name, SECTION)

__all__ = ["METHODS", "PAPER_TABLE3", "ROBUSTBENCH_AUTOATTACK_CIFAR10", "SECTION", "SETTINGS",
           "AdversarialSettings", "Evaluation", "OFFICIAL_START_METRIC", "adversarial_source_run",
           "attack_test_data", "cells", "evaluate", "official_start_evaluations",
           "pgd_start_table", "plan", "robustness_evaluations", "row_run", "run",
           "sanity_evaluations", "sanity_verdicts", "table3_runs"]
