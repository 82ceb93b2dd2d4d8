"""§3.2's claims per target (:class:`lib.claims.Claim`): pre-training alone
beats the best baseline on total and on minority error and beats Normal
Training; at the paper preset, the class-exclusion check; and the sentences
that read Table 2 from the same comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.claims import Claim, difference_band, seed_band, weighted_binomial_se
from lib.presets import Preset
from lib.sections import exclusion
from lib.sections.imbalance.methods import NAME, baselines
from lib.sections.imbalance.report import _title, paper_table2_values, summary
from lib.sections.imbalance.settings import (
    PAPER_DATASETS,
    PAPER_EXCLUSION_INCREASE,
    PAPER_GAMMAS,
    PAPER_SMOTE_GAP,
    _METRIC_WORDS,
    ImbalanceSettings,
)

_CLAIMS = (  # key, metric, compared with, statement, labels
    ("imbalance_total", "error", "best",
     "Pre-training alone beats the best baseline of Table 2 (total error)",
     ("best baseline", "pre-training")),
    ("imbalance_minority", "minority_error", "best",
     "Pre-training alone beats the best baseline of Table 2 (minority error)",
     ("best baseline", "pre-training")),
    ("imbalance_normal", "error", "normal",
     "Pre-training beats Normal Training (total error)",
     ("normal training", "pre-training")),
)


def _gamma_text(gammas) -> str:
    return "γ = " + ", ".join(f"{float(g)}" for g in gammas)


def _paper_comparison(dataset: str, gammas, metric: str, against: str) -> tuple[str, float]:
    """The paper's values for a claim on ``dataset`` (a Table 2 dataset) over
    ``gammas`` (those of Table 2; all of them if none is): text and gain."""
    values = paper_table2_values()
    values = values[values.dataset == dataset]
    used = [g for g in gammas if g in PAPER_GAMMAS] or list(PAPER_GAMMAS)
    values = values[values.gamma.isin(used)].pivot(index="gamma", columns="method",
                                                   values=metric)
    pre, first = values["Pre-Training"], used[0]
    if against == "best":
        others = values[[_title(m) for m in baselines()]]
        base, name_at_first = others.min(axis=1), others.idxmin(axis=1)[first]
    else:
        base = values[_title(against)]
        name_at_first = _title(against)
    at_first = (f"{_gamma_text([first])}: {name_at_first} {base[first]:.1f}% vs pre-training "
                f"{pre[first]:.1f}%")
    if len(used) == 1:
        text = f"{PAPER_DATASETS[dataset]}, {at_first} {_METRIC_WORDS[metric]}"
    else:
        text = (f"{PAPER_DATASETS[dataset]}, mean over {_gamma_text(used)}: "
                f"{'best baseline' if against == 'best' else name_at_first} {base.mean():.1f}% "
                f"vs pre-training {pre.mean():.1f}% {_METRIC_WORDS[metric]} ({at_first})")
    return text, float(base.mean() - pre.mean())


def _cell_means(rows, target: str, metric: str, source: str = ""):
    """``metric`` on ``target`` (runs pre-trained on ``source``, "" = the
    preset's): (mean per (method, γ, seed), mean over seeds per (method, γ)),
    each with its test examples ``n``."""
    r = rows[(rows.dataset == target) & (rows.metric == metric) & (rows.source == source)]
    r = r.assign(gamma=r.gamma.astype(float), n=pd.to_numeric(r.n))
    cells = r.groupby(["method", "gamma", "seed"])[["value", "n"]].mean()
    return cells, cells.groupby(["method", "gamma"]).mean()


def _over_gammas(cells, means, gammas, method_of):
    """The mean over ``gammas`` of the method ``method_of(γ)`` (from
    :func:`_cell_means`): (mean, one mean per seed present at every γ, its
    standard error from the test-set sampling)."""
    per_gamma = [means.loc[(method_of(g), g)] for g in gammas]
    seeds = [cells.loc[(method_of(g), g)].index for g in gammas]
    common = sorted(set.intersection(*(set(s) for s in seeds)))
    per_seed = [np.mean([cells.loc[(method_of(g), g, seed), "value"] for g in gammas])
                for seed in common]
    se = weighted_binomial_se([1 / len(gammas)] * len(gammas),
                              [p.value for p in per_gamma], [p.n for p in per_gamma])
    return float(np.mean([p.value for p in per_gamma])), per_seed, se


def _band(base_seeds, pre_seeds, base_se: float, pre_se: float) -> tuple[float, str, int]:
    """(band, how it was obtained, seeds) of a difference of two means over γ:
    the seeds' spread with two or more seeds, else the test-set sampling."""
    seeds = min(len(base_seeds), len(pre_seeds))
    if seeds >= 2:
        return seed_band(base_seeds, pre_seeds), f"2 SE over {seeds} seeds", seeds
    return difference_band(base_se, pre_se), "2 SE of the test-set sampling, one seed", seeds


def _comparison(rows, target: str, gammas, metric: str, against: str, preset: Preset,
                key: str = "", statement: str = "", labels=("baseline", "pre-training")):
    """Pre-training against ``against`` (a method, or ``"best"``: the best
    baseline of each γ by its mean over seeds) on ``metric``, as a
    :class:`Claim` on the mean over ``gammas``; ``None`` without the runs."""
    cells, means = _cell_means(rows, target, metric)
    gammas = [float(g) for g in gammas]
    chosen = {}
    for gamma in gammas:
        candidates = [m for m in (baselines() if against == "best" else [against])
                      if (m, gamma) in means.index]
        if (("pretraining", gamma) not in means.index) or not candidates:
            return None
        chosen[gamma] = min(candidates, key=lambda m: means.loc[(m, gamma), "value"])

    base, base_seeds, base_se = _over_gammas(cells, means, gammas, chosen.get)
    pre, pre_seeds, pre_se = _over_gammas(cells, means, gammas, lambda g: "pretraining")
    band, band_kind, seeds = _band(base_seeds, pre_seeds, base_se, pre_se)
    datasets = [target] if target in PAPER_DATASETS else list(PAPER_DATASETS)
    paper = [_paper_comparison(d, gammas, metric, against) for d in datasets]
    words = _METRIC_WORDS[metric]
    notes = []
    if against == "best" and len(set(chosen.values())) == 1:
        notes.append(f"Best baseline at every γ: {_title(next(iter(chosen.values())))}.")
    elif against == "best":
        notes.append("Best baseline per γ: " + ", ".join(
            f"{_title(m)} ({float(g)})" for g, m in chosen.items()) + ".")
    if target not in PAPER_DATASETS:
        notes.append(f"The paper has no {target}; its values are CIFAR's.")
    return Claim(
        key=key, section=NAME, dataset=target, statement=statement,
        metric=f"{words}, mean over {_gamma_text(gammas)}", unit="%",
        scratch=base, pretrained=pre, better="lower", band=band, band_kind=band_kind,
        seeds=max(seeds, 1), magnitude=base - pre, magnitude_name=f"points of {words} gained",
        paper_values="; ".join(text for text, _ in paper),
        paper_magnitude=", ".join(f"{gain:.1f} points ({PAPER_DATASETS[d]})"
                                  for d, (_, gain) in zip(datasets, paper)),
        paper_differences=tuple((PAPER_DATASETS[d], -gain) for d, (_, gain) in zip(datasets, paper)),
        preset=preset.name, labels=tuple(labels), notes=tuple(notes))


def claims(rows, settings: ImbalanceSettings, preset: Preset) -> list[Claim]:
    """The section's claims per target dataset, headline first: pre-training
    alone beats the best baseline per γ (total error, then minority error),
    and beats Normal Training; each on the mean over γ. The paper: CIFAR-10,
    γ = 0.2, SMOTE 19.7% vs pre-training 8.0% total error."""
    out = []
    for target in settings.targets:
        for key, metric, against, statement, labels in _CLAIMS:
            claim = _comparison(rows, target, settings.gammas, metric, against, preset,
                                key=key, statement=statement, labels=labels)
            if claim is not None:
                out.append(claim)
    checked = exclusion_claim(rows, settings, preset)
    return out + ([checked] if checked is not None else [])


def exclusion_claim(rows, settings: ImbalanceSettings, preset: Preset) -> Claim | None:
    """§3.2's class-exclusion check: tuned on CIFAR-10 from the source without
    the CIFAR-10-related classes, "the total error rate increases by only 2.1%
    compared to pre-training on all classes" (read as points of total error,
    mean over γ), a similarity claim (:func:`lib.sections.exclusion.similarity_claim`)
    with the paper's gain over SMOTE (12.6) as the scale; ``None`` without the
    check's rows. Its note gives the gain over the best baseline that survives."""
    if settings.ablation_source is None:
        return None
    target, label = settings.ablation_target, settings.ablation_source[0]
    gammas = [float(g) for g in settings.gammas]
    measured = []
    for source in ("", label):
        cells, means = _cell_means(rows, target, "error", source)
        if any(("pretraining", g) not in means.index for g in gammas):
            return None
        measured.append(_over_gammas(cells, means, gammas, lambda g: "pretraining"))
    (full, full_seeds, full_se), (checked, checked_seeds, checked_se) = measured
    band, band_kind, seeds = _band(full_seeds, checked_seeds, full_se, checked_se)
    best = _comparison(rows, target, gammas, "error", "best", preset)
    notes = () if best is None else (
        f"Against the best baseline of each γ ({best.scratch:.2f}%), pre-training without the "
        f"classes still gains {best.scratch - checked:.2f} points ({best.scratch - full:.2f} "
        f"with them; the paper: {PAPER_SMOTE_GAP} over SMOTE).",)
    return exclusion.similarity_claim(
        key="imbalance_total_without_cifar10_classes", section=NAME, dataset=target,
        statement="Pre-training without the CIFAR-10-related classes gives a similar total error",
        metric=f"total error of Pre-Training, mean over {_gamma_text(gammas)}", unit="%",
        full=full, excluded=checked, better="lower", band=band, band_kind=band_kind,
        seeds=max(seeds, 1),
        paper_values=f"CIFAR-10, total error +{PAPER_EXCLUSION_INCREASE} points without the "
                     "classes (its γ not stated; read as the mean over Table 2's γ)",
        paper_difference=PAPER_EXCLUSION_INCREASE, paper_gain=PAPER_SMOTE_GAP,
        preset=preset.name, notes=notes)


def direction_sentences(rows, settings: ImbalanceSettings, preset: Preset) -> str:
    """One sentence per (dataset, γ): pre-training against the best baseline
    and Normal Training, judged as the claims are (:func:`claims`, at one γ)."""
    s = summary(rows)
    lines = []
    for target in settings.targets:
        for gamma in settings.gammas:
            at = s[(s.dataset == target) & (s.gamma == float(gamma))].set_index("method")
            base = at.loc[[m for m in baselines() if m in at.index]]
            if "pretraining" not in at.index or base.empty:
                continue
            pre = at.loc["pretraining"]
            total = _comparison(rows, target, [gamma], "error", "best", preset)
            minority = _comparison(rows, target, [gamma], "minority_error", "best", preset)
            normal = (f"; Normal Training {at.loc['normal', 'error']:.1f}% / "
                      f"{at.loc['normal', 'minority_error']:.1f}%" if "normal" in at.index else "")
            lines.append(
                f"- **{target}, γ = {float(gamma)}** ({preset.name} preset): pre-training "
                f"{pre.error:.1f}% total / {pre.minority_error:.1f}% minority error; best "
                f"baseline {base.error.min():.1f}% total ({_title(base.error.idxmin())}) / "
                f"{base.minority_error.min():.1f}% minority "
                f"({_title(base.minority_error.idxmin())})"
                f"{normal}. Against the best baseline, total error: {total.verdict} "
                f"({total.difference:+.1f} ± {total.band:.1f} points); minority error: "
                f"{minority.verdict} ({minority.difference:+.1f} ± {minority.band:.1f} points).")
    return "\n".join(lines) or "No (dataset, γ) has both pre-training and a baseline."
