"""§3.1's settings per preset (:data:`SETTINGS`): the targets, the corruption
strengths, the recipes of both arms, Figure 1's long run, the seeds, the
methods and Forward's anchors."""

from __future__ import annotations

from dataclasses import dataclass

from lib.presets import PRESETS, Recipe
from lib.sections import exclusion
from lib.sections.base import per_preset
from lib.sections.label_noise.methods import METHODS, NAME
from lib.validation import check_choice, check_range


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
        long_run_epochs=24,  # twice the from-scratch epochs, as the paper's 200 for 100
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
