"""§3.1's claims, one per comparison × target (:class:`lib.claims.Claim`):
pre-training lowers the area under the error curve of No Correction and of
the corrections, with the class-exclusion check at the paper preset."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.claims import Claim, arm_band, seed_count, weighted_binomial_se
from lib.presets import Preset
from lib.sections import exclusion
from lib.sections.label_noise.methods import METHODS, NAME
from lib.sections.label_noise.report import PAPER_EXCLUDED_AUC, PAPER_TABLE1, PAPER_TARGETS, _DATASET_NAMES
from lib.sections.label_noise.runs import areas, cell_errors, trapezoid_weights
from lib.sections.label_noise.settings import LabelNoiseSettings


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
