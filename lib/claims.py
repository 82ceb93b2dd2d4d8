"""The paper's headline claims, measured on the result store (issue: results
overview). Each section notebook glues its claim's numbers (``myst_nb.glue``)
and ``book/results.md`` pastes them, so no number on that page is typed.

Every function takes a section's stored rows (``Session.results()``) and
returns ``{glue key: value}``; ``<key>_shown`` is ``"yes"`` when our run goes
the paper's way and ``"no"`` otherwise.
"""

from __future__ import annotations

import pandas as pd

from lib.registry import Registry

SECTION_CLAIMS: Registry = Registry("section")


def _shown(condition: bool) -> str:
    return "yes" if bool(condition) else "no"


def _mean(rows: pd.DataFrame, **where) -> float:
    for column, value in where.items():
        rows = rows[rows[column].astype(str) == str(value)]
    if rows.empty:
        raise ValueError(f"no stored rows for {where}")
    return float(rows.value.astype(float).mean())


def _arms(rows: pd.DataFrame, **where) -> tuple[float, float]:
    """(from scratch, pre-trained) means of the rows matching ``where``."""
    return _mean(rows, arm="scratch", **where), _mean(rows, arm="pretrained", **where)


@SECTION_CLAIMS.register("pretraining")
def clean_accuracy(rows: pd.DataFrame) -> dict:
    """Premise (§1): both arms reach similar clean error on the target."""
    scratch, tuned = _arms(rows, metric="test_error")
    return {"clean_scratch": scratch, "clean_pretrained": tuned, "clean_gap": tuned - scratch,
            "clean_shown": _shown(abs(tuned - scratch) <= 1.5)}


@SECTION_CLAIMS.register("label_noise")
def label_noise(rows: pd.DataFrame) -> dict:
    """§3.1: pre-training lowers the area under the error curve (no correction)
    by about 30% relative."""
    scratch, tuned = _arms(rows, metric="error_auc", method="no_correction")
    reduction = 100 * (1 - tuned / scratch)
    return {"noise_scratch": scratch, "noise_pretrained": tuned, "noise_reduction": reduction,
            "noise_shown": _shown(reduction > 0)}


@SECTION_CLAIMS.register("class_imbalance")
def class_imbalance(rows: pd.DataFrame) -> dict:
    """§3.2: pre-training alone beats the task-specific baselines (total error,
    mean over γ; the best in-paper baseline per γ)."""
    errors = rows[rows.metric == "error"]
    baselines = ("normal", "cost_sensitive", "oversampling", "smote")
    per_gamma = errors.groupby(["strength", "method"]).value.mean().unstack("method")
    best = per_gamma[[m for m in baselines if m in per_gamma]].min(axis=1).mean()
    tuned = per_gamma["pretraining"].mean()
    return {"imbalance_best_baseline": float(best), "imbalance_pretrained": float(tuned),
            "imbalance_gain": float(best - tuned), "imbalance_shown": _shown(tuned < best)}


@SECTION_CLAIMS.register("adversarial")
def adversarial(rows: pd.DataFrame) -> dict:
    """§3.3: adversarial pre-training adds about 10 points of PGD accuracy over
    adversarial training from scratch."""
    scratch = _mean(rows, metric="pgd_accuracy", method="adversarial", detail="pgd set")
    tuned = _mean(rows, metric="pgd_accuracy", method="adversarial_pretrained", detail="pgd set")
    return {"adv_scratch": scratch, "adv_pretrained": tuned, "adv_gain": tuned - scratch,
            "adv_shown": _shown(tuned > scratch)}


@SECTION_CLAIMS.register("ood")
def ood(rows: pd.DataFrame) -> dict:
    """§4.1: pre-training raises the mean AUROC of the maximum softmax probability."""
    scratch, tuned = _arms(rows, metric="auroc", method="msp")
    return {"ood_scratch": scratch, "ood_pretrained": tuned, "ood_gain": tuned - scratch,
            "ood_shown": _shown(tuned > scratch)}


@SECTION_CLAIMS.register("calibration")
def calibration(rows: pd.DataFrame) -> dict:
    """§4.2: pre-training at least halves the RMS calibration error (raw models)."""
    scratch, tuned = _arms(rows, metric="rms", method="none")
    return {"rms_scratch": scratch, "rms_pretrained": tuned, "rms_ratio": scratch / tuned,
            "rms_shown": _shown(tuned < scratch)}


def claim_values(section: str, rows: pd.DataFrame) -> dict:
    """The glue values of ``section`` computed from its stored ``rows``."""
    return SECTION_CLAIMS.get(section)(rows)
