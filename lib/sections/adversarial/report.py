"""§3.3's tables and figures, drawn from the rows of :func:`~lib.sections.adversarial.runs.run`:
Table 3 (ours and the paper's), AutoAttack beside RobustBench, the PGD start
(ours and the official code's), the source's training history, the sanity
checks and curves, the training cost and the recorded recipe selection."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lib.claims import binomial_se
from lib.evaluation.robustness import non_increasing
from lib.presets import Preset
from lib.recorded import recorded_section_recipes
from lib.sections.adversarial.runs import METHODS, OFFICIAL_START_METRIC
from lib.sections.adversarial.settings import (
    CHECK_METHOD,
    NAME,
    NEAR_ZERO,
    PAPER_CHECK_CHANGE,
    PAPER_NAMES,
    PAPER_TABLE3,
    ROBUSTBENCH_AUTOATTACK_CIFAR10,
    SOURCE_METHOD,
    SOURCE_TITLE,
    AdversarialSettings,
)


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


def recipe_selection(rows=None, settings=None, preset=None):
    """The recorded choice of the quick rate of each adversarially trained row,
    by validation PGD-20 error (``benchmarks/select_section_recipes.py``)."""
    table = recorded_section_recipes(NAME)
    if isinstance(table, str):
        return table
    return table.drop(columns=["section", "dropout"]).rename(  # one section, no dropout
        columns={"validation_error": "PGD-20 error (validation)"})
