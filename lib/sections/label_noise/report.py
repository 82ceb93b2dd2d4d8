"""§3.1's tables and figures, drawn from the rows of
:func:`~lib.sections.label_noise.runs.run`: Table 1 (ours and the paper's),
the data summary, Figures 1 and 2, the memorisation check and the recorded
recipe selection."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.presets import Preset
from lib.recorded import recorded_section_recipes
from lib.sections import exclusion
from lib.sections.base import ARMS
from lib.sections.label_noise.methods import METHODS, NAME
from lib.sections.label_noise.runs import areas, cell_errors
from lib.sections.label_noise.settings import LabelNoiseSettings

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
