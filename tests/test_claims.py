"""The headline claims computed from a section's stored rows (results page)."""

import pandas as pd
import pytest

from lib.claims import SECTION_CLAIMS, claim_values


def rows(*entries):
    return pd.DataFrame([dict(zip(("metric", "method", "arm", "value", "strength", "detail"), e))
                         for e in entries])


def test_every_section_notebook_has_a_claim():
    assert set(SECTION_CLAIMS) == {"pretraining", "label_noise", "class_imbalance",
                                   "adversarial", "ood", "calibration"}


def test_clean_accuracy_premise():
    values = claim_values("pretraining", rows(("test_error", "none", "scratch", 10.0),
                                              ("test_error", "none", "pretrained", 11.0),
                                              ("test_error", "none", "source", 50.0)))
    assert values["clean_gap"] == pytest.approx(1.0) and values["clean_shown"] == "yes"


def test_label_noise_relative_reduction():
    values = claim_values("label_noise", rows(("error_auc", "no_correction", "scratch", 40.0),
                                              ("error_auc", "no_correction", "pretrained", 28.0)))
    assert values["noise_reduction"] == pytest.approx(30.0) and values["noise_shown"] == "yes"


def test_imbalance_compares_with_the_best_baseline_per_gamma():
    values = claim_values("class_imbalance", rows(
        ("error", "normal", "scratch", 30.0, 0.2), ("error", "smote", "scratch", 20.0, 0.2),
        ("error", "pretraining", "pretrained", 25.0, 0.2)))
    assert values["imbalance_best_baseline"] == 20.0 and values["imbalance_shown"] == "no"


def test_adversarial_uses_the_pgd_set_only():
    values = claim_values("adversarial", rows(
        ("pgd_accuracy", "adversarial", "scratch", 40.0, None, "pgd set"),
        ("pgd_accuracy", "adversarial_pretrained", "pretrained", 50.0, None, "pgd set"),
        ("pgd_accuracy", "adversarial_pretrained", "pretrained", 10.0, None, "autoattack set")))
    assert values["adv_gain"] == pytest.approx(10.0)


def test_calibration_ratio_and_missing_rows():
    values = claim_values("calibration", rows(("rms", "none", "scratch", 6.0),
                                              ("rms", "none", "pretrained", 3.0)))
    assert values["rms_ratio"] == pytest.approx(2.0) and values["rms_shown"] == "yes"
    with pytest.raises(ValueError, match="no stored rows"):
        claim_values("ood", rows(("auroc", "msp", "scratch", 0.9)))
    with pytest.raises(ValueError, match="section='nope'"):
        claim_values("nope", rows())
