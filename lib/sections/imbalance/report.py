"""§3.2's tables and figures, drawn from the rows of
:func:`~lib.sections.imbalance.runs.run`: Table 2 (ours and the paper's), the
training facts, the sentences that read Figure 3, Figure 3 and error against
γ, and the recorded recipe selection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lib.imbalance import minority_classes
from lib.presets import Preset, Recipe
from lib.recorded import recorded_section_recipes
from lib.sections.imbalance.methods import METHODS, build_run, method_names
from lib.sections.imbalance.settings import (
    PAPER_EXCLUSION_INCREASE,
    PAPER_GAMMAS,
    _METRIC_WORDS,
    _PAPER_TABLE2,
    ImbalanceSettings,
)


def summary(rows: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """Mean over seeds of total and minority error and of the training facts,
    one row per (dataset, method, γ), in the registry's method order; ``n`` and
    ``minority_n`` are the test examples behind the errors. ``source``: the
    runs pre-trained on the preset's source ("", the sweep) or on a variant."""
    r = rows[(rows.source == source)
             & rows.metric.isin(["error", "minority_error", "final_train_error", "train_size"])]
    r = r.assign(gamma=r.gamma.astype(float), n=pd.to_numeric(r.n))
    index = ["dataset", "method", "gamma"]
    table = r.pivot_table(index=index, columns="metric", values="value", aggfunc="mean")
    counts = r.pivot_table(index=index, columns="metric", values="n", aggfunc="mean")
    table["n"] = counts["error"]
    table["minority_n"] = counts["minority_error"]
    table["seeds"] = r[r.metric == "error"].groupby(index).seed.nunique()
    order = {name: i for i, name in enumerate(method_names())}
    return table.reset_index().sort_values(
        index, key=lambda s: s.map(order) if s.name == "method" else s).reset_index(drop=True)


def _title(name: str) -> str:
    return METHODS[name].title


# --- tables ----------------------------------------------------------------

def table2(rows, settings: ImbalanceSettings, preset: Preset) -> pd.DataFrame:
    """Table 2's layout, ours: (dataset, method) × γ, cells "total / minority"
    test error in percent (mean over seeds); where the preset runs the
    class-exclusion check, below CIFAR-10's rows Pre-Training from the source
    without the CIFAR-10-related classes and its change from the full source
    (the paper's number in the row's name)."""
    s = summary(rows)
    cells = s.assign(cell=[f"{t:.1f} / {m:.1f}" for t, m in zip(s.error, s.minority_error)],
                     method=s.method.map(_title))
    table = cells.pivot(index=["dataset", "method"], columns="gamma", values="cell")
    order = [(d, _title(m)) for d in settings.targets for m in method_names()
             if (d, _title(m)) in table.index]
    if settings.ablation_source is not None:
        checks = _exclusion_cells(rows, settings, s)
        table = pd.concat([table, checks])
        at = max((i for i, (d, _) in enumerate(order) if d == settings.ablation_target),
                 default=len(order) - 1) + 1
        order[at:at] = list(checks.index)
    table = table.reindex(order).rename_axis(columns="γ")
    return pd.concat({f"ours ({preset.name} preset)": table}, names=["source"])


def _exclusion_cells(rows, settings: ImbalanceSettings, full: pd.DataFrame) -> pd.DataFrame:
    """Table 2's rows of the class-exclusion check on CIFAR-10 ("total /
    minority" per γ): Pre-Training from the source without the classes, and
    its change from Pre-Training on the full source (``full``: :func:`summary`)."""
    label, target = settings.ablation_source[0], settings.ablation_target

    def pretraining(frame):
        frame = frame[(frame.dataset == target) & (frame.method == "pretraining")]
        return frame.set_index("gamma")[["error", "minority_error"]]

    checked, base = pretraining(summary(rows, label)), pretraining(full)
    change = checked - base.reindex(checked.index)
    return pd.DataFrame(
        [[f"{t:.1f} / {m:.1f}" for t, m in zip(checked.error, checked.minority_error)],
         [f"{t:+.1f} / {m:+.1f}" for t, m in zip(change.error, change.minority_error)]],
        columns=checked.index, index=pd.MultiIndex.from_tuples([
            (target, f"Pre-Training, source {label}"),
            (target, f"  change from the full source (the paper: total error "
                                     f"+{PAPER_EXCLUSION_INCREASE}, γ not stated)")],
            names=["dataset", "method"]))


def paper_table2(rows=None, settings=None, preset=None) -> pd.DataFrame:
    """The paper's Table 2 (not ours): rows (dataset, method), columns γ,
    cells "total / minority" test error in percent, as printed."""
    frames = {dataset: pd.DataFrame(cells, index=list(PAPER_GAMMAS)).T
              for dataset, cells in _PAPER_TABLE2.items()}
    table = pd.concat(frames, names=["dataset", "method"]).rename_axis(columns="γ")
    return pd.concat({"paper (Table 2)": table}, names=["source"])


def paper_table2_values() -> pd.DataFrame:
    """The paper's Table 2 as numbers: one row per (dataset, method, γ) with
    ``error`` and ``minority_error`` (percent)."""
    long = paper_table2().loc["paper (Table 2)"].stack().rename("cell").reset_index()
    long.columns = ["dataset", "method", "gamma", "cell"]
    parts = long.cell.str.split(" / ", expand=True).astype(float)
    return long.drop(columns="cell").assign(gamma=long.gamma.astype(float), error=parts[0],
                                            minority_error=parts[1])


def optimizer_steps(recipe: Recipe, train_size: int) -> int:
    """SGD steps of ``recipe`` on ``train_size`` images (the last batch of an
    epoch may be short)."""
    return math.ceil(train_size / recipe.batch_size) * recipe.epochs


def training_facts(rows, settings: ImbalanceSettings, preset: Preset) -> pd.DataFrame:
    """Per (dataset, γ, method): training images, optimizer steps, training
    error of the last epoch and the test errors (percent, mean over seeds).
    The steps come from each method's own run config."""
    s = summary(rows)
    recipes = [build_run(m, preset, settings, d, g, settings.seeds[0]).recipe
               for d, m, g in zip(s.dataset, s.method, s.gamma)]
    facts = pd.DataFrame({
        "dataset": s.dataset, "γ": s.gamma, "method": s.method.map(_title),
        "train images": s.train_size.astype(int),
        "optimizer steps": [optimizer_steps(r, int(n)) for r, n in zip(recipes, s.train_size)],
        "final train error (%)": s.final_train_error.round(1),
        "total error (%)": s.error.round(1), "minority error (%)": s.minority_error.round(1),
        "seeds": s.seeds})
    return facts.sort_values(["dataset", "γ"], kind="stable").set_index(
        ["dataset", "γ", "method"])


def recipe_selection(rows, settings: ImbalanceSettings, preset: Preset):
    """The recorded selection of the quick recipes (benchmarks/select_section_recipes.py)."""
    return recorded_section_recipes("class_imbalance")


def _per_class(rows, target: str, gamma: float) -> pd.DataFrame:
    r = rows[(rows.dataset == target) & (rows.metric == "class_error") & (rows.source == "")
             & (rows.gamma.astype(float) == float(gamma))]
    r = r.assign(class_index=r.class_index.astype(int))
    return r.pivot_table(index="class_index", columns="method", values="value", aggfunc="mean")


def figure3_sentences(rows, settings: ImbalanceSettings, preset: Preset) -> str:
    """Figure 3 in words: in how many classes pre-training has the lower test
    error, and its mean gain on the minority classes against the others."""
    gamma, lines = settings.figure_gamma, []
    for target in settings.targets:
        per_class = _per_class(rows, target, gamma)
        if not {"normal", "pretraining"} <= set(per_class.columns):
            continue
        gain = per_class["normal"] - per_class["pretraining"]
        minority = gain.index.isin(minority_classes(settings.class_sizes(target, gamma)))
        lines.append(
            f"- **{target}, γ = {float(gamma)}** ({preset.name} preset): pre-training has the "
            f"lower test error in {int((gain > 0).sum())} of {len(gain)} classes (the paper: all); "
            f"mean gain {gain[minority].mean():.1f} points on the {int(minority.sum())} minority "
            f"classes against {gain[~minority].mean():.1f} on the others (the paper: most of the "
            f"gain is on the minority classes). Single classes are not judged against a noise "
            f"band; the claims below are.")
    return "\n".join(lines) or "Figure 3 needs Normal Training and Pre-Training."


# --- figures ---------------------------------------------------------------

def figure3(rows, settings: ImbalanceSettings, preset: Preset):
    """Per-class test error of Normal Training and Pre-Training at
    ``figure_gamma``, one panel per target; each class's training size is
    under its index."""
    import matplotlib.pyplot as plt

    gamma = settings.figure_gamma
    fig, axes = plt.subplots(len(settings.targets), 1, squeeze=False,
                             figsize=(7, 3.4 * len(settings.targets)))
    for ax, target in zip(axes[:, 0], settings.targets):
        per_class = _per_class(rows, target, gamma)
        sizes = settings.class_sizes(target, gamma)
        x = np.arange(len(sizes))
        for offset, name, label in ((-0.2, "normal", "normal training (from scratch)"),
                                    (0.2, "pretraining", "pre-training")):
            if name in per_class:
                ax.bar(per_class.index + offset, per_class[name], width=0.4, label=label)
        step = max(1, len(sizes) // 10)
        ax.set_xticks(x[::step], [f"{c}\n({sizes[c]})" for c in x[::step]])
        ax.set(xlabel="class (training images)", ylabel="test error (%)",
               title=f"{target}, γ = {gamma}, {preset.name} preset", ylim=(0, 125))
        ax.legend(ncol=2, loc="upper center", fontsize=8)
    fig.tight_layout()
    return fig


def error_vs_gamma(rows, settings: ImbalanceSettings, preset: Preset):
    """Total and minority test error of every method against γ, one row of
    panels per target (dashed: not in the paper); with a single γ, a figure
    that says so."""
    import matplotlib.pyplot as plt

    if len(settings.gammas) < 2:
        fig, ax = plt.subplots(figsize=(7, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"The {preset.name} preset runs one γ ({settings.gammas[0]}): "
                "no curve over γ; see Table 2.", ha="center", va="center")
        return fig
    s = summary(rows)
    fig, axes = plt.subplots(len(settings.targets), 2, squeeze=False, sharey="row",
                             figsize=(9, 3.4 * len(settings.targets)))
    for row_axes, target in zip(axes, settings.targets):
        for ax, metric in zip(row_axes, ("error", "minority_error")):
            for name in settings.method_names():
                d = s[(s.dataset == target) & (s.method == name)]
                ax.plot(d.gamma, d[metric], marker="o", label=_title(name),
                        linestyle="-" if METHODS[name].in_paper else "--")
            ax.set(xlabel="γ (smaller is more imbalanced)", title=f"{target}: {_METRIC_WORDS[metric]}")
        row_axes[0].set_ylabel("test error (%)")
        row_axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
