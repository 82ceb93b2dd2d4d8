"""Robustness to adversarial perturbations (paper §3.3, Table 3).

The adversary is untargeted L∞ PGD (Madry et al. 2018; :func:`lib.attacks.pgd_linf`)
in pixel space [0, 1]. Four rows per target, each a run of the run cache:

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
does not overstate robustness.

Settings per preset (:func:`adversarial_settings`): the paper's WRN-28-10 on
CIFAR-10/100 with ε = 8/255 at ``paper`` (official code:
github.com/hendrycks/pre-training, ``robustness/adversarial/``:
Downsampled ImageNet pre-training 100 epochs at lr 0.1, batch 256, PGD-10 with
step 2/255, no dropout; tuning 5 epochs at lr 0.001, batch 128); a small WRN on
Fashion-MNIST with ε = 0.1 at ``quick`` and ``smoke``. Training PGD takes
``k`` steps of 2.5·ε/k (Madry et al.'s rule; the paper's 10 steps of 2/255 at
ε = 8/255), the test attack 20 steps of ε/4.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.evaluation.memo import memoized
from lib.evaluation.robustness import (
    accuracy_vs_eps,
    accuracy_vs_steps,
    autoattack_on,
    clean_accuracy,
    pgd_accuracy,
)
from lib.experiments import SOURCE_TRACK_SIZE, finetune_run, scratch_run, source_run
from lib.presets import DataSpec, Preset, Recipe, get_preset
from lib.training import EvalDataSpec, RunConfig, TrainingDataSpec
from lib.validation import check_choice

SECTION = "adversarial"

# Table 3's rows: name → the paper's label.
ROWS = {
    "normal": "Normal Training",
    "adversarial": "Adversarial Training",
    "adversarial_pretrained": "Adv. Pre-Training and Tuning",
    "last_layer": "Adv. Pre-Training, last layer tuned",
}
# Whether each row starts from scratch or from the (adversarially) pre-trained source.
ARMS = {"normal": "scratch", "adversarial": "scratch", "adversarial_pretrained": "pretrained",
        "last_layer": "pretrained"}

# The paper's Table 3 and §3.3 text (percent): (clean, adversarial) per row;
# for last-layer-only tuning only the adversarial accuracy is given.
PAPER_TABLE3 = {
    "cifar10": {"normal": (96.0, 0.0), "adversarial": (87.3, 45.8),
                "adversarial_pretrained": (87.1, 57.4), "last_layer": (None, 46.6)},
    "cifar100": {"normal": (81.0, 0.0), "adversarial": (59.1, 24.3),
                 "adversarial_pretrained": (59.2, 33.5), "last_layer": (None, 26.1)},
}
# RobustBench (Croce et al. 2021) evaluates the paper's CIFAR-10 model
# ("Hendrycks2019Using") under AutoAttack at 54.92% (the paper: 57.4% under PGD-20).
ROBUSTBENCH_AUTOATTACK_CIFAR10 = 54.92


def _pgd_params(eps: float, steps: int) -> tuple:
    """Objective parameters of PGD-``steps`` training: step 2.5·ε/steps."""
    return (("eps", eps), ("step_size", 2.5 * eps / steps), ("steps", steps))


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
    preset's test set), AutoAttack on ``autoattack_size`` images for the rows
    ``autoattack_rows`` (its cost grows with the robust images: Square spends
    5,000 queries on each), the
    sanity curves on ``curve_size`` (ε multiples ``eps_multiples`` under
    PGD-``curve_steps``, and PGD with each of ``steps_grid`` steps).
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
    autoattack_rows: tuple = tuple(ROWS)
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

    def __post_init__(self):
        if self.last_layer.tune != "last_layer":
            raise ValueError("the last_layer recipe must have tune='last_layer'")
        if min(self.train_steps, self.test_steps, self.source_steps, self.curve_steps) < 1:
            raise ValueError("PGD step counts must be >= 1")
        if list(self.eps_multiples) != sorted(set(self.eps_multiples)) or self.eps_multiples[0] != 0:
            raise ValueError("eps_multiples must increase from 0")
        for row in self.autoattack_rows:
            check_choice("autoattack row", row, ROWS)

    @property
    def test_step_size(self) -> float:
        return self.test_step_fraction * self.eps

    @property
    def train_params(self) -> tuple:
        """``objective_params`` of adversarial training on the target."""
        return _pgd_params(self.eps, self.train_steps)

    @property
    def source_params(self) -> tuple:
        """``objective_params`` of adversarial pre-training on the source."""
        return _pgd_params(self.eps, self.source_steps)

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        def step(k):
            return f"PGD-{k}, step 2.5ε/{k} = {2.5 * self.eps / k:.4g}"

        src = self.source_data
        return "\n".join([
            f"targets                : {list(self.targets)}",
            f"architecture           : {self.architecture}",
            f"ε (L∞, pixels in [0,1]): {self.eps_text} = {self.eps:.4g}",
            f"training adversary     : {step(self.train_steps)}, random start",
            f"test adversary         : PGD-{self.test_steps}, step {self.test_step_fraction:g}ε = "
            f"{self.test_step_size:.4g}, random start, untargeted",
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
            f"{list(self.autoattack_rows)} (torchattacks, standard version)",
            f"sanity curves          : {self.curve_size} images; ε × {list(self.eps_multiples)} "
            f"under PGD-{self.curve_steps}; steps {list(self.steps_grid)}",
            f"seeds                  : {list(self.seeds)}",
        ] + ([f"note                   : {self.note}"] if self.note else []))


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
        eps_multiples=(0, 0.5, 1, 2, 4, 8), seeds=(0,),
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
        scratch=Recipe(epochs=6, lr=0.1),
        finetune=Recipe(epochs=3, lr=preset.finetune.lr),
        last_layer=Recipe(epochs=3, lr=preset.finetune.lr, tune="last_layer"),
        attack_size=1000, autoattack_size=50, autoattack_rows=("adversarial_pretrained",),
        curve_size=300, seeds=preset.seeds,
        note="short runs for a 2-core CPU: the adversarial source is pre-trained on half "
             "the source images for 6 epochs against PGD-2, warm-started from the clean "
             "source; adversarial training from "
             "scratch gets 6 epochs, tuning 3 (the quick clean tuning lr); AutoAttack "
             "only checks the headline row, on 50 images",
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


_SETTINGS = {"paper": _paper, "quick": _quick, "smoke": _smoke}


def adversarial_settings(preset: str | Preset) -> AdversarialSettings:
    """The §3.3 settings of ``preset`` (a name or a :class:`Preset`)."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    check_choice("preset", preset.name, _SETTINGS)
    return _SETTINGS[preset.name](preset)


def _settings_and_preset(preset) -> tuple[AdversarialSettings, Preset]:
    preset = get_preset(preset) if isinstance(preset, str) else preset
    return adversarial_settings(preset), preset


def adversarial_source_run(preset: str | Preset, seed: int = 0) -> RunConfig:
    """Adversarial pre-training on the source against an untargeted PGD
    adversary (paper §3.3), built like :func:`lib.experiments.source_run`
    (the source's held-out test error tracked every epoch) with the
    ``"adversarial"`` objective. A pure config builder: at quick the trained
    model ships as a checkpoint; ``train_or_load`` finds it by its key."""
    s, preset = _settings_and_preset(preset)
    source = s.source_data.dataset
    return RunConfig(
        architecture=s.architecture, in_channels=preset.in_channels, data=s.source_data,
        recipe=s.source_recipe, seed=seed,
        init=source_run(preset, seed) if s.source_warm_start else None,
        track=EvalDataSpec(source, size=SOURCE_TRACK_SIZE, split="test"),
        objective="adversarial", objective_params=s.source_params,
        label=f"adv-pretrain[{preset.name}:{source.name}]")


def row_run(preset: str | Preset, row: str, target: str | None = None, seed: int = 0) -> RunConfig:
    """The run of Table 3's ``row`` (a key of :data:`ROWS`) for ``target``."""
    check_choice("row", row, ROWS)
    s, preset = _settings_and_preset(preset)
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


def table3_runs(preset: str | Preset, target: str | None = None, seed: int = 0) -> dict:
    """Every row's run for ``target``: ``{row: RunConfig}`` in :data:`ROWS` order."""
    return {row: row_run(preset, row, target, seed) for row in ROWS}


def attack_test_data(preset: str | Preset, target: str, size: int | None = None) -> EvalDataSpec:
    """The test images attacked for ``target``: a class-stratified subset of
    ``size`` (default: the settings' ``attack_size``; ``None`` = the preset's
    test set)."""
    s, preset = _settings_and_preset(preset)
    size = size if size is not None else s.attack_size
    caps = [c for c in (size, preset.test_size) if c is not None]
    return EvalDataSpec(DataSpec.of(target), size=min(caps) if caps else None)


def robustness_entries(model, test, settings: AdversarialSettings, device, seed: int = 0,
                       autoattack=None) -> list[dict]:
    """Result entries (metric, value in percent, detail, n) for one model:
    clean and PGD accuracy on ``test`` (detail ``"pgd set"``); with
    ``autoattack`` (a smaller test set), clean, PGD and AutoAttack accuracy on
    it (detail ``"autoattack set"``), so the two attacks compare on the same images."""
    s = settings

    def scored(data, subset):
        return [dict(metric="clean_accuracy", detail=subset, n=len(data),
                     value=100 * clean_accuracy(model, data, device)),
                dict(metric="pgd_accuracy", detail=subset, n=len(data),
                     value=100 * pgd_accuracy(model, data, device, s.eps, s.test_step_size,
                                              s.test_steps, seed))]

    def compute():
        entries = scored(test, "pgd set")
        if autoattack is not None:
            entries += scored(autoattack, "autoattack set")
            entries.append(dict(metric="autoattack_accuracy", detail="autoattack set",
                                n=len(autoattack),
                                value=100 * autoattack_on(model, autoattack, s.eps, seed)))
        return entries

    datasets = [test] + ([autoattack] if autoattack is not None else [])
    return memoized("robustness_entries", model, datasets, dict(settings=repr(s), seed=seed),
                    compute, device=device)


def sanity_curves(model, data, settings: AdversarialSettings, device, seed: int = 0,
                  steps: bool = True) -> list[dict]:
    """The sanity checks of one model on ``data`` (dicts: check, eps, steps,
    accuracy in percent): accuracy against ε (``settings.eps_multiples`` × ε
    under PGD-``curve_steps``, step ε/4) and, with ``steps``, against the
    number of PGD steps at ε (``settings.steps_grid``, step ``test_step_size``)."""
    s = settings

    def compute():
        rows = [dict(check="eps", **r) for r in accuracy_vs_eps(
            model, data, device, [m * s.eps for m in s.eps_multiples], s.curve_steps,
            s.test_step_fraction, seed)]
        if steps:
            rows += [dict(check="steps", **r) for r in accuracy_vs_steps(
                model, data, device, s.eps, s.test_step_size, s.steps_grid, seed)]
        for r in rows:
            r["accuracy"] *= 100
        return rows

    return memoized("sanity_curves", model, [data], dict(settings=repr(s), seed=seed, steps=steps),
                    compute, device=device)


__all__ = ["ARMS", "AdversarialSettings", "PAPER_TABLE3", "ROBUSTBENCH_AUTOATTACK_CIFAR10", "ROWS",
           "SECTION", "adversarial_settings", "adversarial_source_run", "attack_test_data",
           "robustness_entries", "row_run", "sanity_curves", "table3_runs"]
