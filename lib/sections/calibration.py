"""Calibration (paper §4.2, Table 5, Figures 4 and 5).

The §4 targets of :mod:`lib.sections.ood` (:data:`~lib.sections.ood.UNCERTAINTY_TARGETS`),
each trained from scratch and fine-tuned from the source *without* a held-out
fraction of its training set (paper §4: 10%), on which the temperature is
then fitted by minimising the NLL (Guo et al., 2017). Both arms are scored
on the test set, raw and temperature-scaled (:mod:`lib.evaluation.calibration`,
memoized): test error (:func:`lib.metrics.top1_error`), RMS and MAD
calibration error with adaptive bins of 100 (the paper's), the official code's
variant of both, ECE, NLL and Brier score. The runs are tracked, so Figure 4
shows the test RMS after every epoch.

The claims per target: pre-training lowers the RMS calibration error (the
paper: "at least halved"; its magnitude is the ratio scratch / pre-trained),
and the MAD error likewise (the paper: a factor of 4.1 on CIFAR-100). Band:
with one seed the bootstrap standard error of each arm's value on the test
set; with two or more seeds the seeds' spread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd

from lib.claims import Claim, arm_band, seed_count
from lib.dry_run import settings_at
from lib.evaluation.calibration import calibration_evaluation
from lib.experiments import target_test_data, target_train_data, tracked_count
from lib.presets import Preset
from lib.sections import SECTIONS
from lib.sections.base import ARMS, Section, paper_arms_table, per_preset
from lib.sections.ood import (
    ARM_LABELS,
    DATASET_TITLES,
    UNCERTAINTY_TARGETS,
    describe_targets,
    seed_summary,
    uncertainty_plan,
)
from lib.training import RunConfig, TrainingDataSpec

NAME = "calibration"
UNITS = {"nll": "nats", "temperature": "temperature"}  # every other metric in percent
MEASURES = ("error", "rms", "mad", "rms_official", "mad_official", "ece", "nll", "brier",
            "rms_se", "mad_se", "temperature")


@dataclass(frozen=True)
class CalibrationSettings:
    """§4.2 at one preset: the ``targets``; the ``holdout_fraction`` of each
    training set left out of training to fit the temperature (paper §4: 10%);
    ``bootstrap_resamples`` draws of the test set (from ``bootstrap_seed``)
    for the standard error of RMS and MAD."""

    targets: tuple
    holdout_fraction: float = 0.1
    bootstrap_resamples: int = 200
    bootstrap_seed: int = 0

    def __post_init__(self):
        if not 0 < self.holdout_fraction < 1 or self.bootstrap_resamples < 2:
            raise ValueError(f"calibration settings need 0 < holdout_fraction < 1 and at least "
                             f"2 bootstrap resamples; got {self}")

    def train_data(self, preset: Preset, target) -> TrainingDataSpec:
        """``target``'s training set at ``preset`` without the hold-out."""
        return replace(target_train_data(preset, target.dataset),
                       holdout_fraction=self.holdout_fraction)

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        return "\n".join([
            *describe_targets(self.targets),
            f"temperature  : fitted (min. NLL) on the {self.holdout_fraction:.0%} of each "
            "training set held out of training (paper §4)",
            "bins         : adaptive, 100 test predictions each (RMS, MAD); ECE 15 equal-width",
            f"noise band   : bootstrap SE of RMS/MAD, {self.bootstrap_resamples} resamples of "
            f"the test set (seed {self.bootstrap_seed}), or the seeds' spread",
        ])


SETTINGS = per_preset(NAME, {name: CalibrationSettings(targets)
                             for name, targets in UNCERTAINTY_TARGETS.items()})


def plan(preset: Preset) -> list[RunConfig]:
    """Every target and seed, from scratch and fine-tuned, on the training set
    without its hold-out."""
    s = settings_at(SETTINGS, preset)
    return uncertainty_plan(s.targets, preset, lambda target: s.train_data(preset, target))


# -- run --------------------------------------------------------------------------------------

def run(session) -> list[dict]:
    """Train or load every run, evaluate its calibration (memoized) and return
    the rows: every measure raw and temperature-scaled (``calibration`` axis),
    and the tracked test RMS of every epoch (``epoch`` axis)."""
    s, preset = session.settings, session.preset
    rows = []
    for target in s.targets:
        train, test = s.train_data(preset, target), target_test_data(preset, target.dataset)
        for seed in preset.seeds:
            for arm, config in target.runs(preset, seed, train).items():
                trained = session.train(config)
                result = calibration_evaluation(
                    trained, test, train, session.device, session.data_root,
                    s.bootstrap_resamples, s.bootstrap_seed, session.runs_dir)
                entries = [dict(metric=r["metric"], calibration=r["calibration"],
                                unit=UNITS.get(r["metric"], "%"),
                                value=r["value"] * (1 if r["metric"] in UNITS else 100),
                                n=result["n_holdout"] if r["metric"] == "temperature"
                                else result["n_test"]) for r in result["rows"]]
                entries += [dict(metric="rms", calibration="raw", epoch=h["epoch"], unit="%",
                                 value=100 * h["test_rms"],
                                 n=tracked_count(config, result["n_test"]))
                            for h in trained.history if h.get("test_rms") is not None]
                confidence, accuracy = result["bins"]["raw"]
                entries += [dict(metric=metric, calibration="raw", bin=i, unit="%", value=100 * v)
                            for metric, values in (("bin_confidence", confidence),
                                                   ("bin_accuracy", accuracy))
                            for i, v in enumerate(values)]
                rows += session.rows(trained, entries, dataset=target.dataset, arm=arm,
                                     method="none",
                                     source=target.source_label if arm == "pretrained" else "")
    return rows


def final(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the trained models (not the per-epoch tracking, not the
    reliability bins)."""
    return rows[rows.epoch.isna() & rows.bin.isna()]


def _per_seed(rows, calibration="raw") -> pd.DataFrame:
    chosen = final(rows)
    return chosen[chosen.calibration == calibration]


def _datasets(settings) -> list[str]:
    return [t.dataset for t in settings.targets]


# -- tables -----------------------------------------------------------------------------------

def table5(rows, settings, preset) -> pd.DataFrame:
    """Table 5 (ours): raw RMS and MAD calibration error (%), beside both arms'
    test error, mean (± std) over seeds."""
    metrics = ("error", "rms", "mad")
    chosen = _per_seed(rows)
    table = seed_summary(chosen[chosen.metric.isin(metrics)], ["dataset"], ["metric", "arm"],
                         [(m, a) for m in metrics for a in ARMS], decimals=2)
    return table.reindex(_datasets(settings)).rename_axis(
        f"ours ({preset.name} preset, raw, {len(preset.seeds)} seed(s))")


PAPER_TABLE5 = {  # the paper's Table 5 (percent, WRN-40-2), not ours
    "cifar10": {"rms": (6.4, 2.9), "mad": (2.9, 1.2)},
    "cifar100": {"rms": (13.3, 3.6), "mad": (10.3, 2.5)},
    "tiny_imagenet": {"rms": (8.5, 4.2), "mad": (7.0, 2.9)},
}


def paper_table5(rows, settings, preset) -> pd.DataFrame:
    """The paper's Table 5, labelled as the paper's."""
    return paper_arms_table(PAPER_TABLE5, ("rms", "mad"), "paper (Table 5, WRN-40-2)")


def all_measures(rows, settings, preset) -> pd.DataFrame:
    """Every measure, raw and temperature-scaled, mean over seeds (percent;
    NLL in nats; the temperature itself)."""
    chosen = final(rows)
    table = chosen.groupby(["dataset", "metric", "calibration", "arm"]).value.mean().round(
        3).unstack(["calibration", "arm"])
    table = table.reindex(columns=[(c, a) for c in ("raw", "temperature") for a in ARMS])
    return table.reindex([(d, m) for d in _datasets(settings) for m in MEASURES])


def temperature(rows, settings, preset) -> str:
    """Where the temperature is fitted, and the fitted temperatures (Markdown)."""
    chosen = final(rows)
    chosen = chosen[chosen.metric == "temperature"]
    parts = []
    for dataset in _datasets(settings):
        mine = chosen[chosen.dataset == dataset]
        fitted = mine.groupby("arm").value.mean()
        parts.append(f"{dataset}: fitted on {int(mine.n.iloc[0])} held-out images; T = "
                     + ", ".join(f"{fitted[a]:.2f} ({ARM_LABELS[a]})" for a in ARMS))
    return (f"The temperature is fitted by minimising the NLL on the "
            f"{settings.holdout_fraction:.0%} of each training set that both arms were trained "
            f"without (paper §4), never on the test set. " + "; ".join(parts)
            + (" (mean over seeds)." if len(preset.seeds) > 1 else "."))


# -- figures ----------------------------------------------------------------------------------

def reliability(rows, settings, preset):
    """Reliability diagrams (raw models, first seed): accuracy against mean
    confidence per adaptive bin of 100 test predictions."""
    seed = preset.seeds[0]
    binned = rows[rows.bin.notna() & (rows.seed == seed)]
    datasets = _datasets(settings)
    fig, axes = plt.subplots(len(datasets), 2, figsize=(8, 3.6 * len(datasets)), sharey=True,
                             squeeze=False)
    for row, dataset in zip(axes, datasets):
        for ax, arm in zip(row, ARMS):
            mine = binned[(binned.dataset == dataset) & (binned.arm == arm)]
            curve = mine.pivot_table(index="bin", columns="metric", values="value") / 100
            ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
            ax.plot(curve["bin_confidence"], curve["bin_accuracy"], marker="o")
            ax.set(title=f"{dataset}: {ARM_LABELS[arm]} (seed {seed})", xlabel="mean confidence",
                   ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    return fig


def figure4(rows, settings, preset):
    """Figure 4: test RMS calibration error after every epoch, from scratch
    against fine-tuning (mean over seeds), one panel per target."""
    tracked = rows[rows.epoch.notna() & (rows.metric == "rms")]
    datasets = _datasets(settings)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for arm in ARMS:
            curve = tracked[(tracked.dataset == dataset) & (tracked.arm == arm)].groupby(
                "epoch").value.mean()
            ax.plot(curve.index.astype(int), curve.values, marker="o", label=ARM_LABELS[arm])
        ax.set(xlabel="epoch", ylabel="RMS calibration error (%)",
               title=f"{dataset} ({len(preset.seeds)} seed(s))")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    return fig


def figure5(rows, settings, preset):
    """Figure 5: raw RMS calibration error per target, both arms (mean over
    seeds; error bars: std over seeds where there are several)."""
    chosen = _per_seed(rows)
    rms = chosen[chosen.metric == "rms"].groupby(["dataset", "arm"]).value
    mean = rms.mean().unstack("arm").reindex(index=_datasets(settings), columns=list(ARMS))
    std = rms.std(ddof=1).unstack("arm").reindex(index=_datasets(settings), columns=list(ARMS))
    fig, ax = plt.subplots(figsize=(3 + 1.6 * len(mean), 3.2))
    mean.rename(columns=ARM_LABELS).plot.bar(
        ax=ax, rot=0, yerr=None if std.isna().all().all() else std.rename(columns=ARM_LABELS))
    ax.set(ylabel="RMS calibration error (%)", xlabel="", title=f"{preset.name} preset",
           ylim=(0, 1.3 * float(np.nanmax((mean + std.fillna(0)).values))))
    ax.legend(title=None, loc="upper right")
    fig.tight_layout()
    return fig


# -- claims -----------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def _paper_text(dataset: str, metric: str) -> tuple[str, str]:
    """(the paper's values, the paper's ratio in its words) for ``dataset``."""
    said = {"rms": "at least halved on every dataset",
            "mad": "likewise at least halved; a factor of 4.1 on CIFAR-100"}[metric]
    if dataset in PAPER_TABLE5:
        s, p = PAPER_TABLE5[dataset][metric]
        return f"{s} → {p}", f"{s}/{p} = {s / p:.1f} ({said})"
    ratios = ", ".join(f"{DATASET_TITLES[d]} {v[metric][0] / v[metric][1]:.1f}"
                       for d, v in PAPER_TABLE5.items())
    values = ", ".join(f"{DATASET_TITLES[d]} {v[metric][0]} → {v[metric][1]}"
                       for d, v in PAPER_TABLE5.items())
    return (f"{DATASET_TITLES.get(dataset, dataset)} is not in the paper; its datasets: {values}",
            f"{ratios} ({said})")


def _paper_differences(dataset: str, metric: str) -> tuple:
    """((paper dataset, pre-trained − scratch), ...): ``dataset``'s, else every one's."""
    datasets = [dataset] if dataset in PAPER_TABLE5 else list(PAPER_TABLE5)
    return tuple((DATASET_TITLES.get(d, d), PAPER_TABLE5[d][metric][1] - PAPER_TABLE5[d][metric][0])
                 for d in datasets)


def claims(rows, settings, preset) -> list[Claim]:
    """Per target: pre-training lowers the raw RMS calibration error, and the MAD."""
    chosen = _per_seed(rows)
    out = []
    for dataset in _datasets(settings):
        mine = chosen[chosen.dataset == dataset]
        for metric, title in (("rms", "RMS"), ("mad", "MAD")):
            values = mine[mine.metric == metric][["arm", "seed", "value"]]
            if set(values.arm) != set(ARMS):
                continue
            se = mine[mine.metric == f"{metric}_se"]

            def sampling_se(arm, se=se):
                return float(se[(se.arm == arm) & (se.seed == se.seed.min())].value.iloc[0])

            band, kind = arm_band(values, sampling_se)
            if kind.startswith("2 SE of"):
                kind = "2 SE of the test-set bootstrap, one seed"
            mean = values.groupby("arm").value.mean()
            ratio = _ratio(float(mean["scratch"]), float(mean["pretrained"]))
            paper_values, paper_ratio = _paper_text(dataset, metric)
            out.append(Claim(
                key=f"calibration_{metric}", section=NAME, dataset=dataset,
                statement=f"Pre-training lowers the {title} calibration error (§4.2, Table 5)",
                metric=f"{title} calibration error (raw)", unit="%",
                scratch=float(mean["scratch"]), pretrained=float(mean["pretrained"]),
                better="lower", band=band, band_kind=kind,
                seeds=seed_count(values), magnitude=ratio,
                magnitude_name=f"{title} ratio scratch / pre-trained",
                paper_values=paper_values, paper_magnitude=paper_ratio, preset=preset.name,
                paper_differences=_paper_differences(dataset, metric),
                notes=(f"Halved or better (ratio ≥ 2): {'yes' if ratio >= 2 else 'no'}.",)))
    return out


SECTION = Section(
    name=NAME, title="Calibration", paper="§4.2, Table 5, Figures 4 and 5",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"table5": table5, "paper_table5": paper_table5, "all_measures": all_measures,
            "temperature": temperature},
    figures={"reliability": reliability, "figure4": figure4, "figure5": figure5})
SECTIONS.add(SECTION.name, SECTION)
