"""Calibration of a classifier (paper §4.2).

RMS and MAD calibration errors with adaptive bins of 100 examples (Hendrycks
et al., 2019), ECE with 15 equal-width bins (Guo et al., 2017), NLL and Brier
score — each without and with a temperature tuned on a held-out 10% of the
training data that the model never trained on. All values are fractions.
"""

from __future__ import annotations

import numpy as np

from lib.metrics import (
    adaptive_bins,
    brier_score,
    calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    softmax,
    tune_temperature,
)


def calibration_metrics(logits, labels, temperature: float = 1.0) -> dict:
    """Every calibration metric of ``logits / temperature`` against ``labels``."""
    probabilities = softmax(logits, temperature)
    labels = np.asarray(labels)
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    return {
        "error": float(1 - correct.mean()),
        "rms": calibration_error(confidence, correct, norm="l2"),
        "mad": calibration_error(confidence, correct, norm="l1"),
        "rms_official": calibration_error(confidence, correct, norm="l2", drop_last_bin=True),
        "mad_official": calibration_error(confidence, correct, norm="l1", drop_last_bin=True),
        "ece": expected_calibration_error(confidence, correct),
        "nll": negative_log_likelihood(np.asarray(logits) / temperature, labels),
        "brier": brier_score(probabilities, labels),
    }


def calibration_rows(test_logits, test_labels, holdout_logits=None, holdout_labels=None) -> list[dict]:
    """Rows (temperature_scaled, metric, value): the raw model, and — when a
    held-out set is given — the model with its tuned temperature."""
    rows = [dict(temperature_scaled=False, metric=m, value=v)
            for m, v in calibration_metrics(test_logits, test_labels).items()]
    if holdout_logits is not None:
        temperature = tune_temperature(holdout_logits, holdout_labels)
        rows += [dict(temperature_scaled=True, metric=m, value=v)
                 for m, v in calibration_metrics(test_logits, test_labels, temperature).items()]
        rows.append(dict(temperature_scaled=True, metric="temperature", value=temperature))
    return rows


def reliability_bins(confidence, correct, bin_size: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Mean confidence and accuracy of each adaptive bin, for reliability diagrams."""
    mean_confidence, accuracy, _ = adaptive_bins(confidence, correct, bin_size)
    return mean_confidence, accuracy
