"""Out-of-distribution detection (paper §4.1, Table 4).

The §4 targets (:data:`UNCERTAINTY_TARGETS`, shared with
:mod:`lib.sections.calibration`): at the paper preset CIFAR-10, CIFAR-100 and
Tiny ImageNet, the last tuned for 20 epochs from the 64×64 Downsampled
ImageNet without its 200 classes (paper §4); Fashion-MNIST at quick and smoke.
Per target and seed, two tracked runs: from scratch and fine-tuned from the
source (:class:`UncertaintyTarget`).

Each model scores the target's test set (in-distribution, negative) and every
OOD set (positive; at the paper preset the sets of the official test scripts,
:data:`PAPER_OOD` and :data:`TARGET_OOD`, and iSUN apart, beyond the paper) by
−(maximum softmax probability) (Hendrycks & Gimpel, 2017), and, beyond the
paper, by the energy score and the negative max logit (:mod:`lib.evaluation.ood`,
memoized). Table 4 is the MSP AUROC / AUPR / FPR95 averaged over the paper's
OOD sets. The claim per target: pre-training raises the mean
MSP AUROC and AUPR. Its band with one seed: the Hanley–McNeil (1982) standard
error of each set's AUROC, or the binomial standard error of its AUPR over the
OOD images (Boyd et al., 2013), combined for the mean over sets; with two or
more seeds the seeds' spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.claims import Claim, arm_band, binomial_se, hanley_mcneil_se, seed_count
from lib.dry_run import settings_at
from lib.evaluation.ood import OODSetSpec, ood_rows
from lib.evaluation.ood_sets import (  # noqa: F401  (the OOD sets, named here too)
    BEYOND_PAPER_OOD,
    CIFAR_PAIRS,
    EMBEDDED_OOD,
    PAPER_OOD,
    PAPER_OOD_SAMPLES,
    TARGET_OOD,
    ood_set_specs,
    with_target_sets,
)
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.metrics import OOD_SCORES, list_ood_scores
from lib.presets import TINY_IMAGENET_SOURCE, Preset
from lib.sections import SECTIONS
from lib.sections.base import ARMS, Section, paper_arms_table, per_preset
from lib.training import RunConfig, TrainingDataSpec

NAME = "ood"
ARM_LABELS = {"scratch": "from scratch", "pretrained": "pre-trained"}
METRICS = ("auroc", "aupr", "fpr")  # percent; higher, higher, lower is better
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                  "tiny_imagenet": "Tiny ImageNet", "fashion_mnist": "Fashion-MNIST"}


# -- the §4 targets (shared with lib.sections.calibration) -------------------------------------

@dataclass(frozen=True)
class UncertaintyTarget:
    """One target dataset of §4. ``source``: the (label, DataSpec) its
    pre-trained arm starts from (``None`` = the preset's source);
    ``finetune_epochs``: its tuning length (``None`` = the preset's)."""

    dataset: str
    source: tuple | None = None
    finetune_epochs: int | None = None

    @property
    def source_label(self) -> str:
        """The ``source`` axis of its pre-trained rows ("" = the preset's source)."""
        return "" if self.source is None else self.source[0]

    def runs(self, preset: Preset, seed: int, data: TrainingDataSpec | None = None) -> dict:
        """arm → the tracked run of ``seed`` (``data``: the training set, default
        the preset's), as :func:`lib.experiments.scratch_run` / ``finetune_run``."""
        recipe = (preset.finetune if self.finetune_epochs is None
                  else replace(preset.finetune, epochs=self.finetune_epochs))
        source = None if self.source is None else source_run(preset, source=self.source[1])
        return {"scratch": scratch_run(preset, seed, data=data, target=self.dataset, track=True),
                "pretrained": finetune_run(preset, seed, data=data, recipe=recipe, source=source,
                                           target=self.dataset, track=True)}


def describe_targets(targets) -> list[str]:
    """The §4 targets (settings' ``describe``): their names, and each that is
    pre-trained or tuned otherwise than the preset's runs."""
    return [f"targets      : {[t.dataset for t in targets]}"] + [
        f"  {t.dataset}: pre-trained on {t.source_label or 'the preset source'}, "
        + (f"tuned {t.finetune_epochs} epochs" if t.finetune_epochs else "tuned as the preset")
        for t in targets if t.source is not None or t.finetune_epochs is not None]


UNCERTAINTY_TARGETS = per_preset("§4 targets (ood, calibration)", {
    "smoke": (UncertaintyTarget("fashion_mnist"),),
    "quick": (UncertaintyTarget("fashion_mnist"),),
    # paper §4: Tiny ImageNet is tuned 20 epochs from the 64×64 source without its classes
    "paper": (UncertaintyTarget("cifar10"), UncertaintyTarget("cifar100"),
              UncertaintyTarget("tiny_imagenet", source=TINY_IMAGENET_SOURCE, finetune_epochs=20)),
})


def uncertainty_plan(targets, preset: Preset, data=None) -> list[RunConfig]:
    """Every §4 run: per target and seed, from scratch then fine-tuned.
    ``data(target) -> TrainingDataSpec`` (default: the preset's training set)."""
    return [config for target in targets for seed in preset.seeds
            for config in target.runs(preset, seed, data and data(target)).values()]


# -- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OODSettings:
    """§4.1 at one preset: the ``targets``; the OOD ``ood_sets`` (plus, per
    target, :data:`TARGET_OOD`: the other CIFAR, Tiny ImageNet's held-out
    ImageNet classes), at most ``ood_samples`` images each, drawn from
    ``ood_seed``; ``beyond_sets``: further sets, scored and shown apart (not in
    Table 4's mean nor the claims); the anomaly ``scores`` (MSP is the
    paper's; by default every registered one, :func:`lib.metrics.list_ood_scores`);
    FPR at ``recall`` of the OOD images."""

    targets: tuple
    ood_sets: tuple
    ood_samples: int
    beyond_sets: tuple = ()
    ood_seed: int = 0
    scores: tuple = field(default_factory=lambda: tuple(list_ood_scores()))
    recall: float = 0.95

    def __post_init__(self):
        for score in self.scores:
            OOD_SCORES.get(score)  # an unknown score fails, listing the registered ones
        if "msp" not in self.scores or not self.ood_sets or self.ood_samples < 1:
            raise ValueError(f"OOD settings need the MSP score, at least one OOD set and "
                             f"ood_samples >= 1; got {self}")

    def paper_names(self, target: str) -> list[str]:
        """The OOD sets of ``target`` that Table 4 averages: the preset's, and
        the target's own (:data:`TARGET_OOD`)."""
        return with_target_sets(self.ood_sets, target)

    def ood_names(self, target: str) -> list[str]:
        """Every OOD set ``target`` is scored on: :meth:`paper_names`, then ``beyond_sets``."""
        return self.paper_names(target) + list(self.beyond_sets)

    def ood_specs(self, target: str) -> list[OODSetSpec]:
        """The OOD sets of ``target`` at its resolution (from its dataset info)."""
        return ood_set_specs(target, self.ood_names(target), self.ood_samples, self.ood_seed)

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        return "\n".join([
            *describe_targets(self.targets),
            *[f"  {t.dataset}: OOD sets {self.paper_names(t.dataset)}" for t in self.targets],
            *([f"beyond paper : {list(self.beyond_sets)} (scored, shown apart, not averaged)"]
              if self.beyond_sets else []),
            f"OOD images   : at most {self.ood_samples} per set, drawn with seed {self.ood_seed}",
            f"scores       : {list(self.scores)} (msp is the paper's)",
            f"FPR at       : {self.recall:.0%} OOD recall",
        ])


SETTINGS = per_preset(NAME, {
    "smoke": OODSettings(UNCERTAINTY_TARGETS["smoke"], EMBEDDED_OOD, ood_samples=200),
    "quick": OODSettings(UNCERTAINTY_TARGETS["quick"], EMBEDDED_OOD, ood_samples=2000),
    "paper": OODSettings(UNCERTAINTY_TARGETS["paper"], PAPER_OOD, ood_samples=PAPER_OOD_SAMPLES,
                         beyond_sets=BEYOND_PAPER_OOD),
})


def plan(preset: Preset) -> list[RunConfig]:
    """The tracked from-scratch and fine-tuned run of every target and seed."""
    return uncertainty_plan(settings_at(SETTINGS, preset).targets, preset)


# -- run --------------------------------------------------------------------------------------

def run(session) -> list[dict]:
    """Train or load every run, score the test set and the OOD sets (memoized),
    and return the rows: auroc / aupr / fpr in percent per OOD set and score
    (``n`` = in-distribution images), and per set its ``ood_count`` (images)."""
    s, preset = session.settings, session.preset
    rows = []
    for target in s.targets:
        test, specs = target_test_data(preset, target.dataset), s.ood_specs(target.dataset)
        for seed in preset.seeds:
            for arm, config in target.runs(preset, seed).items():
                trained = session.train(config)
                result = ood_rows(trained, test, specs, session.device, session.data_root,
                                  s.scores, s.recall, session.runs_dir)
                rows += session.rows(trained, _entries(result), dataset=target.dataset, arm=arm,
                                     method="none",
                                     source=target.source_label if arm == "pretrained" else "")
    return rows


def _entries(result: list[dict]) -> list[dict]:
    entries = [dict(metric=r["metric"], value=100 * r["value"], unit="%", ood_set=r["ood_set"],
                    score=r["score"], n=r["n_in"]) for r in result]
    counts = {r["ood_set"]: r["n_out"] for r in result}
    return entries + [dict(metric="ood_count", value=n, unit="images", ood_set=name)
                      for name, n in counts.items()]


def _image(data) -> np.ndarray:
    return data.subset([0]).images[0].permute(1, 2, 0).squeeze(-1).numpy()


def _examples(test, specs, root) -> list[tuple[str, np.ndarray]]:
    """The first image of the test set and of each OOD set (drawn with count 1)."""
    return [("in-distribution", _image(test.build(root)))] + [
        (spec.name, _image(replace(spec, count=1).build(root))) for spec in specs]


# -- tables -----------------------------------------------------------------------------------

def _datasets(settings) -> list[str]:
    return [t.dataset for t in settings.targets]


def over_sets(rows: pd.DataFrame, score: str = "msp", exclude=()) -> pd.DataFrame:
    """Per dataset, arm, seed and metric: the mean over the OOD sets (but ``exclude``)."""
    chosen = rows[(rows.score == score) & rows.metric.isin(METRICS)
                  & ~rows.ood_set.isin(list(exclude))]
    return chosen.groupby(["dataset", "arm", "seed", "metric"], as_index=False).value.mean()


def seed_summary(per_seed: pd.DataFrame, index: list, columns: list, order: list,
                 decimals: int = 1) -> pd.DataFrame:
    """The mean over seeds of ``per_seed.value`` by ``index`` × ``columns``
    (ordered as ``order``); "mean ± std" where there are two or more seeds."""
    grouped = per_seed.groupby(index + columns).value
    mean = grouped.mean().round(decimals)
    if grouped.count().min() >= 2:
        std = grouped.std(ddof=1)
        mean = mean.map(f"{{:.{decimals}f}}".format) + " ± " + std.map(
            f"{{:.{decimals}f}}".format)
    return mean.unstack(columns).reindex(columns=order)


def _columns(metrics) -> list:
    return [(m, a) for m in metrics for a in ARMS]


def table4(rows, settings, preset) -> pd.DataFrame:
    """Table 4 (ours): MSP AUROC, AUPR and FPR95 (%), mean over the OOD sets,
    mean (± std) over seeds."""
    table = seed_summary(over_sets(rows, exclude=settings.beyond_sets), ["dataset"],
                         ["metric", "arm"], _columns(METRICS))
    return table.reindex(_datasets(settings)).rename_axis(
        f"ours ({preset.name} preset, MSP, {len(preset.seeds)} seed(s))")


PAPER_TABLE4 = {  # the paper's Table 4 (percent, WRN-40-2, mean of five runs), not ours
    "cifar10": {"auroc": (91.5, 94.5), "aupr": (63.4, 73.5)},
    "cifar100": {"auroc": (69.4, 83.1), "aupr": (29.7, 52.7)},
    "tiny_imagenet": {"auroc": (71.8, 73.9), "aupr": (30.8, 31.0)},
}


def paper_table4(rows, settings, preset) -> pd.DataFrame:
    """The paper's Table 4, labelled as the paper's."""
    return paper_arms_table(PAPER_TABLE4, ("auroc", "aupr"),
                            "paper (Table 4, WRN-40-2, 5 runs)")


def per_set(rows, settings, preset) -> pd.DataFrame:
    """MSP AUROC / AUPR / FPR95 (%) per OOD set (mean over seeds) and the
    number of OOD images of each set."""
    msp = rows[(rows.score == "msp") & rows.metric.isin(METRICS)]
    table = msp.groupby(["dataset", "ood_set", "metric", "arm"]).value.mean().round(1).unstack(
        ["metric", "arm"]).reindex(columns=_columns(METRICS))
    counts = rows[rows.metric == "ood_count"].groupby(["dataset", "ood_set"]).value.max()
    table[("OOD images", "")] = counts.astype(int)
    order = [(d, n) for d in _datasets(settings) for n in settings.ood_names(d)]
    table = table.reindex(order)
    if settings.beyond_sets:  # shown apart, and labelled
        table.index = pd.MultiIndex.from_tuples(
            [(d, f"{n} (beyond the paper)" if n in settings.beyond_sets else n)
             for d, n in table.index], names=table.index.names)
    return table


def other_scores(rows, settings, preset) -> pd.DataFrame:
    """Beyond the paper: every score (energy, max logit beside MSP), mean over
    OOD sets and seeds (%)."""
    frames = [over_sets(rows, score, settings.beyond_sets).assign(score=score)
              for score in settings.scores]
    table = pd.concat(frames).groupby(["dataset", "score", "metric", "arm"]).value.mean().round(
        1).unstack(["metric", "arm"]).reindex(columns=_columns(METRICS))
    return table.reindex([(d, s) for d in _datasets(settings) for s in settings.scores])


# -- figures ----------------------------------------------------------------------------------

def ood_examples(rows, settings, preset, data_root=None):
    """One image of the test set and of each OOD set, per target (the same
    sets, drawn with a count of 1, from ``data_root``)."""
    examples = {target.dataset: _examples(target_test_data(preset, target.dataset),
                                          settings.ood_specs(target.dataset), data_root)
                for target in settings.targets}
    width = max(len(v) for v in examples.values())
    fig, axes = plt.subplots(len(examples), width, figsize=(1.5 * width, 1.8 * len(examples)),
                             squeeze=False)
    for row, (target, images) in zip(axes, examples.items()):
        for ax in row:
            ax.axis("off")
        for ax, (name, image) in zip(row, images):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(f"{target}" if name == "in-distribution" else name, fontsize=8)
    fig.tight_layout()
    return fig


def auroc_per_set(rows, settings, preset):
    """MSP AUROC per OOD set, both arms, one panel per target."""
    table = per_set(rows, settings, preset)["auroc"]
    datasets = _datasets(settings)
    fig, axes = plt.subplots(len(datasets), 1, figsize=(7, 3 * len(datasets)), squeeze=False)
    for ax, target in zip(axes[:, 0], datasets):
        auroc = table.xs(target)[list(ARMS)].rename(columns=ARM_LABELS)
        auroc.plot.bar(ax=ax, rot=30)
        ax.set(ylabel="AUROC (%)", xlabel="OOD set", title=f"{target}: AUROC per OOD set (MSP)",
               ylim=(max(0, float(np.nanmin(auroc.values)) - 10), 100))
    fig.tight_layout()
    return fig


# -- claims -----------------------------------------------------------------------------------

_CLAIMS = {  # metric → (key, statement, the sampling SE of one set's value)
    "auroc": ("ood_auroc", "Pre-training raises the mean MSP AUROC over the OOD sets "
              "(§4.1, Table 4)", lambda v, n_in, n_out: hanley_mcneil_se(v, n_in, n_out)),
    "aupr": ("ood_aupr", "Pre-training raises the mean MSP AUPR over the OOD sets "
             "(§4.1, Table 4)", lambda v, n_in, n_out: binomial_se(v, n_out)),
}


def _paper_text(dataset: str, metric: str) -> tuple[str, str]:
    """(the paper's values, the paper's gain) for ``dataset``; every target's
    where the paper has no number for it."""
    def one(d):
        s, p = PAPER_TABLE4[d][metric]
        return f"{s} → {p}", f"{p - s:+.1f} points"

    if dataset in PAPER_TABLE4:
        return one(dataset)
    parts = {DATASET_TITLES[d]: one(d) for d in PAPER_TABLE4}
    return (f"{DATASET_TITLES.get(dataset, dataset)} is not in the paper; its datasets: " + ", ".join(f"{d} {v}" for d, (v, _) in parts.items()),
            ", ".join(f"{d} {g}" for d, (_, g) in parts.items()))


def _paper_differences(dataset: str, metric: str) -> tuple:
    """((paper dataset, pre-trained − scratch), ...): ``dataset``'s, else every target's."""
    datasets = [dataset] if dataset in PAPER_TABLE4 else list(PAPER_TABLE4)
    return tuple((DATASET_TITLES.get(d, d), PAPER_TABLE4[d][metric][1] - PAPER_TABLE4[d][metric][0])
                 for d in datasets)


def _set_se(rows: pd.DataFrame, dataset: str, metric: str, se,
            exclude=()) -> Callable[[str], float]:
    """``arm -> SE`` of the mean over OOD sets of one seed's ``metric``: each
    set's sampling SE, combined as independent estimates."""
    counts = rows[(rows.dataset == dataset) & (rows.metric == "ood_count")]

    def arm_se(arm) -> float:
        chosen = rows[(rows.dataset == dataset) & (rows.arm == arm) & (rows.score == "msp")
                      & (rows.metric == metric) & ~rows.ood_set.isin(list(exclude))]
        chosen = chosen[chosen.seed == chosen.seed.min()]
        n_out = counts[(counts.arm == arm) & (counts.seed == chosen.seed.min())].set_index(
            "ood_set").value
        ses = [se(r.value, int(r.n), int(n_out[r.ood_set])) for r in chosen.itertuples()]
        return math.sqrt(sum(x * x for x in ses)) / len(ses)

    return arm_se


def claims(rows, settings, preset) -> list[Claim]:
    """Per target: pre-training raises the mean MSP AUROC, and the mean AUPR."""
    per_seed = over_sets(rows, exclude=settings.beyond_sets)
    out = []
    for dataset in _datasets(settings):
        for metric, (key, statement, se) in _CLAIMS.items():
            values = per_seed[(per_seed.dataset == dataset) & (per_seed.metric == metric)]
            if set(values.arm) != set(ARMS):
                continue
            band, kind = arm_band(values, _set_se(rows, dataset, metric, se,
                                                  settings.beyond_sets))
            mean = values.groupby("arm").value.mean()
            paper_values, paper_gain = _paper_text(dataset, metric)
            out.append(Claim(
                key=key, section=NAME, dataset=dataset, statement=statement,
                metric=f"mean {metric.upper()} (MSP)", unit="%",
                scratch=float(mean["scratch"]), pretrained=float(mean["pretrained"]),
                better="higher", band=band, band_kind=kind,
                seeds=seed_count(values),
                magnitude=float(mean["pretrained"] - mean["scratch"]),
                magnitude_name="gain in points", paper_values=paper_values,
                paper_magnitude=paper_gain, preset=preset.name,
                paper_differences=_paper_differences(dataset, metric)))
    return out


SECTION = Section(
    name=NAME, title="Out-of-distribution detection", paper="§4.1, Table 4",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"table4": table4, "paper_table4": paper_table4, "per_set": per_set,
            "other_scores": other_scores},
    figures={"ood_examples": ood_examples, "auroc_per_set": auroc_per_set})
SECTIONS.add(SECTION.name, SECTION)
