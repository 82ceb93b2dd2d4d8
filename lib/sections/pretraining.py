"""Pre-training (paper §1, §3 and §4, "Pre-Training"): the source model that
every section fine-tunes, and the premise of the paper's argument.

The paper compares a network trained from scratch on the target with one
pre-trained on Downsampled ImageNet and fine-tuned, and relies on He et al.
(2018) for the premise that the two reach *similar* clean accuracy: any
difference in robustness or uncertainty is then not an accuracy difference in
disguise. This section trains (or loads) the source model and its variants
(paper preset: without the CIFAR-10-related classes; the 64×64 set without
Tiny ImageNet's classes), the two arms on each target, evaluates their clean
test error and NLL, and judges the premise per target dataset.

The runs are exactly those the pre-training notebook always trained
(:func:`lib.experiments.source_run`, ``scratch_run(P, track=True)``,
``finetune_run(P, track=True, source=source_run(P))``); the quick source ships
as ``lib/checkpoints/13443145f29e1ca3.pt`` (1,000 fractal classes × 50, chosen
on validation data: :mod:`lib.selection`). At the paper preset the premise is shown on CIFAR-10 and
CIFAR-100 over the preset's seeds: the same tracked runs as §4.1's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.claims import Claim, arm_band, binomial_se, seed_count
from lib.dry_run import settings_at
from lib.evaluation.clean import clean_evaluation
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.presets import PRESETS, Preset
from lib.recorded import recorded_selection
from lib.sections import SECTIONS
from lib.sections.base import ARMS, Section, per_preset

# Our reading of the paper's "similar clean accuracy" (§1, after He et al.,
# 2018): the paper gives no number. Points of top-1 test error.
SIMILAR_TOLERANCE = 1.5
# The paper's source model (WRN-40-2, Downsampled ImageNet 32×32, 100 epochs):
# top-1 error in the authors' training log. The paper's number, not ours.
PAPER_SOURCE_ERROR = 50.8
ARM_LABELS = {"scratch": "from scratch", "pretrained": "pre-trained, tuned", "source": "source"}


@dataclass(frozen=True)
class PretrainingSettings:
    """What the page trains and shows: the ``targets`` (each gets both arms),
    the ``seeds`` of the target runs, the labels of the preset's
    ``source_variants`` to pre-train (:attr:`Preset.source_variants`), and the
    source image grid (``image_classes`` rows × ``images_per_class``)."""

    targets: tuple
    seeds: tuple = (0,)
    source_variants: tuple = ()
    image_classes: int = 8
    images_per_class: int = 6

    def __post_init__(self):
        if not self.targets or not self.seeds:
            raise ValueError(f"pretraining settings need targets and seeds, got {self}")
        if self.image_classes < 1 or self.images_per_class < 1:
            raise ValueError(f"the source image grid needs at least one image, got {self}")

    def describe(self) -> str:
        variants = ", ".join(self.source_variants) or "none"
        return "\n".join([
            f"targets         : {', '.join(self.targets)}",
            f"seeds           : {list(self.seeds)}",
            f"source variants : {variants}",
            f"source images   : {self.image_classes} classes × {self.images_per_class} images",
            f"'similar' clean error (our reading): |gap| ≤ {SIMILAR_TOLERANCE:g} points"])


SETTINGS = per_preset("pretraining", {
    "smoke": PretrainingSettings(targets=("fashion_mnist",)),
    # the preset's three seeds: the same runs as §4.1's and §4.2's
    "quick": PretrainingSettings(targets=("fashion_mnist",), seeds=PRESETS["quick"].seeds),
    # CIFAR-10 and CIFAR-100 over the preset's seeds: §4.1 trains the same runs.
    "paper": PretrainingSettings(
        targets=("cifar10", "cifar100"), seeds=PRESETS["paper"].seeds,
        source_variants=tuple(label for label, _ in PRESETS["paper"].source_variants)),
})


# -- the runs ---------------------------------------------------------------------------------

def variant_specs(preset: Preset, settings: PretrainingSettings) -> dict:
    """label → the source :class:`DataSpec` of each variant in ``settings``
    (an unknown label fails, naming the preset's variants)."""
    known = dict(preset.source_variants)
    unknown = [label for label in settings.source_variants if label not in known]
    if unknown:
        raise ValueError(f"preset {preset.name!r} has no source variant(s) {unknown}; "
                         f"it has {list(known)}")
    return {label: known[label] for label in settings.source_variants}


def target_runs(preset: Preset, settings: PretrainingSettings) -> dict:
    """(target, seed, arm) → the run config of both arms on every target, as
    the pre-training page always built them (tracked test error per epoch)."""
    source = source_run(preset)
    runs = {}
    for target in settings.targets:
        for seed in settings.seeds:
            runs[target, seed, "scratch"] = scratch_run(preset, seed, track=True, target=target)
            runs[target, seed, "pretrained"] = finetune_run(preset, seed, track=True,
                                                            target=target, source=source)
    return runs


def plan(preset: Preset) -> list:
    """The source run, its variants, then both arms on every target."""
    settings = settings_at(SETTINGS, preset)
    variants = [source_run(preset, source=spec)
                for spec in variant_specs(preset, settings).values()]
    return [source_run(preset), *variants, *target_runs(preset, settings).values()]


# -- evaluation -------------------------------------------------------------------------------

def clean_error_nll(session, run, spec) -> dict:
    """Top-1 error (percent), NLL (nats) and the number of images of ``run``
    on the test set ``spec`` (an :class:`EvalDataSpec`), memoized."""
    return clean_evaluation(run, spec, session.device, session.data_root, session.runs_dir)


def curve_entries(run, eval_set: str) -> list[dict]:
    """The per-epoch rows of ``run``'s history: training loss and error (over
    the augmented training batches) and the tracked test error."""
    entries = []
    for record in run.history:
        epoch = int(record["epoch"])
        entries += [dict(metric="train_loss", value=record["loss"], unit="nats", epoch=epoch,
                         eval_set="train"),
                    dict(metric="train_error", value=100 * (1 - record["accuracy"]), unit="%",
                         epoch=epoch, eval_set="train")]
        if record.get("test_error") is not None:
            entries.append(dict(metric="test_error", value=100 * record["test_error"], unit="%",
                                epoch=epoch, eval_set=eval_set))
    return entries


def run(session) -> list[dict]:
    """Train or load the source, its variants and both arms on every target;
    return their clean test errors (and NLL for the targets) and the training
    curves of the source and both arms."""
    preset, settings = session.preset, session.settings
    rows = []
    source_config = source_run(preset)
    source = session.train(source_config)
    source_name = source_config.data.dataset.name
    clean = clean_error_nll(session, source, source_config.track)
    rows += session.rows(source, [dict(metric="test_error", value=clean["error"], unit="%",
                                       n=clean["n"], eval_set="source test")],
                         dataset=source_name, method="none", arm="source")
    rows += session.rows(source, curve_entries(source, "source test"),
                         dataset=source_name, method="none", arm="source")
    for label, spec in variant_specs(preset, settings).items():
        config = source_run(preset, source=spec)
        variant = session.train(config)
        clean = clean_error_nll(session, variant, config.track)
        rows += session.rows(variant, [dict(metric="test_error", value=clean["error"], unit="%",
                                            n=clean["n"], eval_set="source test")],
                             dataset=spec.name, method="none", arm="source", source=label)
    for (target, _seed, arm), config in target_runs(preset, settings).items():
        trained = session.train(config)
        clean = clean_error_nll(session, trained, target_test_data(preset, target))
        entries = [dict(metric="test_error", value=clean["error"], unit="%", n=clean["n"],
                        eval_set="test"),
                   dict(metric="test_nll", value=clean["nll"], unit="nats", n=clean["n"],
                        eval_set="test")]
        rows += session.rows(trained, entries + curve_entries(trained, "test"),
                             dataset=target, method="none", arm=arm)
    return rows


# -- reading the rows -------------------------------------------------------------------------

def final(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows measured after training (no ``epoch``)."""
    return rows[rows["epoch"].isna()]


def curves(rows: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch rows."""
    frame = rows[rows["epoch"].notna()].copy()
    frame["epoch"] = frame["epoch"].astype(int)
    return frame


def _clean_target_rows(rows: pd.DataFrame, dataset: str, metric: str = "test_error"):
    selected = final(rows)
    return selected[(selected.dataset == dataset) & (selected.metric == metric)
                    & selected.arm.isin(ARMS)]


# -- tables -----------------------------------------------------------------------------------

def results_table(rows, settings, preset) -> pd.DataFrame:
    """Clean test error (%) and NLL (nats) per dataset × arm (mean over the
    seeds), and the source's error on its held-out test set."""
    selected = final(rows)
    selected = selected[(selected.source == "") & selected.metric.isin(("test_error", "test_nll"))]
    table = selected.pivot_table(index=["dataset", "arm"], columns="metric", values="value",
                                 aggfunc="mean")
    table = table.rename(columns={"test_error": "test error (%)", "test_nll": "test NLL (nats)"})
    counts = selected[selected.metric == "test_error"].groupby(["dataset", "arm"])
    table["seeds"] = counts.seed.nunique()
    table["test images"] = counts.n.first().astype(int)
    order = [(d, a) for d in [*settings.targets, source_run(preset).data.dataset.name]
             for a in ("scratch", "pretrained", "source") if (d, a) in table.index]
    table = table.loc[order].rename(index=ARM_LABELS, level="arm")
    table.columns.name = None
    return table.round(2).rename_axis(index=[f"dataset ({preset.name} preset)", "arm"])


def variants_table(rows, settings, preset):
    """The source test error of each variant, or a sentence when the preset has none."""
    selected = final(rows)
    selected = selected[(selected.arm == "source") & (selected.source != "")]
    if selected.empty:
        return (f"Preset **{preset.name}** pre-trains no source variant (only "
                f"{preset.source.name}).")
    table = selected[["source", "dataset", "value", "n"]].rename(columns={
        "source": "source variant", "value": "source test error (%)", "n": "test images"})
    return table.set_index("source variant").round(2)


def best_recipes(selection: pd.DataFrame) -> str:
    """The recipe per arm that the quick-source selection chose (on
    validation: :mod:`lib.selection`), and the gap between the arms."""
    chosen = selection[selection.chosen].set_index("arm")
    scratch, tuned = chosen.loc["scratch"], chosen.loc["pretrained"]
    return (f"chosen from scratch: {scratch.validation_error:.2f}% validation error "
            f"({int(scratch.epochs)} epochs, lr {scratch.lr}, dropout {scratch.dropout}); "
            f"chosen fine-tuned: {tuned.validation_error:.2f}% ({tuned.source}, lr {tuned.lr}); "
            f"gap {tuned.validation_error - scratch.validation_error:+.2f} points")


def quick_source_selection(rows, settings, preset):
    """The recorded measurement that chose the quick recipes on validation
    data (``benchmarks/select_quick_source.py``), with the pick per arm."""
    selection = recorded_selection("quick_source_selection.csv",
                                   "benchmarks/select_quick_source.py")
    if selection is None:
        return "No recorded selection: run `python benchmarks/select_quick_source.py`."
    print(best_recipes(selection))
    return selection


SIGNAL_COLUMNS = {"validation_error": "val. error", "ood_auroc_msp": "OOD AUROC",
                  "rms_calibration_error": "RMS calib.", "noise_error": "noise error",
                  "imbalance_error": "imbal. error", "pgd_accuracy": "PGD acc."}


def quick_source_signals(rows, settings, preset):
    """The recorded five signals of the chosen from-scratch recipe and each
    candidate source (``select_quick_source.py --signals``: OOD, calibration,
    label noise, imbalance, PGD, all on validation data), measured after the
    choice and never used for it."""
    signals = recorded_selection("quick_source_signals.csv",
                                 "benchmarks/select_quick_source.py --signals")
    if signals is None:
        return "No recorded signals: run `python benchmarks/select_quick_source.py --signals`."
    print(f"{int(signals.validation_n.iloc[0]):,} validation images "
          f"({int(signals.pgd_n.iloc[0]):,} for PGD); values in percent")
    return signals.drop(columns=["arm", "validation_n", "pgd_n"]).rename(
        columns=SIGNAL_COLUMNS).set_index("candidate")


# -- figures ----------------------------------------------------------------------------------

def source_images(rows, settings, preset, data_root=None):
    """The first images of the first source classes, one row per class (the
    source dataset is built here: the embedded fractal source needs no data
    root; a real source is read from ``data_root`` or ``$DATA_ROOT``)."""
    import matplotlib.pyplot as plt

    config = source_run(preset)
    train, _ = config.data.build(data_root)
    classes = range(min(settings.image_classes, train.num_classes))
    labels = train.labels.numpy()
    height = 0.8 * len(classes) + 0.4  # inches: 0.8 per row and the title
    fig, axes = plt.subplots(len(classes), settings.images_per_class, squeeze=False,
                             figsize=(0.8 * settings.images_per_class, height))
    for ax in axes.flat:
        ax.axis("off")
    for row, c in enumerate(classes):
        for col, i in enumerate(np.flatnonzero(labels == c)[:settings.images_per_class]):
            image = train.subset([i]).images[0].permute(1, 2, 0).squeeze(-1).numpy()
            axes[row, col].imshow(image, cmap="gray" if image.ndim == 2 else None)
    fig.suptitle(f"{config.data.dataset.name}: {train.num_classes} classes, {len(train)} "
                 f"training images of shape {tuple(train.shape)}; one row per class",
                 fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.4 / height,
                        wspace=0.1, hspace=0.1)
    return fig


def source_curves(rows, settings, preset):
    """The source's training loss, and its training and held-out test error, per epoch."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frame = curves(rows)
    frame = frame[(frame.arm == "source") & (frame.source == "")]
    by_metric = {m: f.sort_values("epoch") for m, f in frame.groupby("metric")}
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(by_metric["train_loss"].epoch, by_metric["train_loss"].value, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss (nats)", title="source training loss")
    for metric, label in (("train_error", "train (augmented)"), ("test_error", "held-out test")):
        ax_err.plot(by_metric[metric].epoch, by_metric[metric].value, marker="o", label=label)
    ax_err.set(xlabel="epoch", ylabel="top-1 error (%)",
               title=f"source error ({preset.source.name}, {preset.name} preset)")
    ax_err.legend()
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def target_curves(rows, settings, preset):
    """Clean test error per epoch of both arms on each target (mean over seeds)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frame = curves(rows)
    frame = frame[frame.arm.isin(ARMS) & (frame.metric == "test_error")]
    fig, axes = plt.subplots(1, len(settings.targets), squeeze=False,
                             figsize=(5 * len(settings.targets), 3.2))
    for ax, target in zip(axes[0], settings.targets):
        for arm in ARMS:
            mean = frame[(frame.dataset == target) & (frame.arm == arm)].groupby(
                "epoch").value.mean()
            ax.plot(mean.index, mean.values, marker="o", label=ARM_LABELS[arm])
        seeds = f", mean of {len(settings.seeds)} seeds" if len(settings.seeds) > 1 else ""
        ax.set(xlabel="epoch", ylabel="test error (%)",
               title=f"{target}: clean test error{seeds}")
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


# -- the claim --------------------------------------------------------------------------------

def claims(rows, settings, preset) -> list[Claim]:
    """The premise, per target: pre-training barely changes clean test error."""
    out = []
    for target in settings.targets:
        errors = _clean_target_rows(rows, target)
        if set(errors.arm) != set(ARMS):
            raise ValueError(f"pretraining claim on {target}: rows for both arms needed, got "
                             f"{sorted(set(errors.arm))}")
        per_seed = errors[["arm", "seed", "value", "n"]]
        means = per_seed.groupby("arm").value.mean()
        band, band_kind = arm_band(per_seed, lambda arm: binomial_se(
            means[arm], int(per_seed[per_seed.arm == arm].n.iloc[0])))
        gap = means["pretrained"] - means["scratch"]
        out.append(Claim(
            key="clean_premise", section="pretraining", dataset=target,
            statement="Pre-training barely changes clean test error (the premise, §1)",
            metric="test error", unit="%", scratch=float(means["scratch"]),
            pretrained=float(means["pretrained"]), better="lower", band=band,
            band_kind=band_kind, seeds=seed_count(per_seed),
            magnitude=abs(gap), magnitude_name="|gap| (points)",
            paper_values="no number: similar clean accuracy (He et al., 2018)",
            paper_magnitude=f"\"similar\" (our reading: ≤ {SIMILAR_TOLERANCE:g} points)",
            preset=preset.name, labels=(ARM_LABELS["scratch"], ARM_LABELS["pretrained"]),
            tolerance=SIMILAR_TOLERANCE,
            notes=(f"Judged as an equivalence test: similar when the whole band, |gap| ± band, "
                   f"lies within our reading of \"similar\", {SIMILAR_TOLERANCE:g} points (the "
                   "paper gives no number).",)))
    return out


SECTION = Section(
    name="pretraining", title="Pre-training",
    paper="§1, §3 and §4: the source model; both arms' clean accuracy",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"results": results_table, "variants": variants_table,
            "quick_source_selection": quick_source_selection,
            "quick_source_signals": quick_source_signals},
    figures={"source_images": source_images, "source_curves": source_curves,
             "target_curves": target_curves})
SECTIONS.add(SECTION.name, SECTION)
