"""Calibration of a classifier (paper §4.2).

RMS and MAD calibration errors with adaptive bins of 100 examples (Hendrycks
et al., 2019), ECE with 15 equal-width bins (Guo et al., 2017), NLL and Brier
score — each without ("raw") and with a temperature ("temperature") tuned on
a held-out fraction of the training data that the model never trained on
(paper §4: 10%), and with every other method of
:data:`lib.metrics.CALIBRATION_METHODS`. All values are fractions except NLL (nats). A bootstrap
over the test set gives the standard error of RMS and MAD (one seed's noise
band). :func:`calibration_evaluation` is memoized on disk.
"""

from __future__ import annotations

import numpy as np
import torch

from lib.evaluation.memo import memoized
from lib.metrics import (
    CALIBRATION_METHODS,
    adaptive_bins,
    brier_score,
    calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    softmax,
    top1_error,
    top1_wrong,
)
from lib.training.engine import predict_logits

CALIBRATIONS = CALIBRATION_METHODS  # the earlier name: "raw", "temperature", …


def calibration_metrics(logits, labels, temperature: float = 1.0) -> dict:
    """Every calibration metric of ``logits / temperature`` against ``labels``."""
    probabilities = softmax(logits, temperature)
    labels = np.asarray(labels)
    confidence = probabilities.max(1)
    correct = ~top1_wrong(logits, labels)
    return {
        "error": top1_error(logits, labels),
        "rms": calibration_error(confidence, correct, norm="l2"),
        "mad": calibration_error(confidence, correct, norm="l1"),
        "rms_official": calibration_error(confidence, correct, norm="l2", drop_last_bin=True),
        "mad_official": calibration_error(confidence, correct, norm="l1", drop_last_bin=True),
        "ece": expected_calibration_error(confidence, correct),
        "nll": negative_log_likelihood(np.asarray(logits) / temperature, labels),
        "brier": brier_score(probabilities, labels),
    }


def calibration_rows(test_logits, test_labels, holdout_logits=None, holdout_labels=None) -> list[dict]:
    """Rows (calibration, metric, value): the raw model, and — when a held-out
    set is given — the model under every fitted calibration method (and its
    temperature)."""
    rows = []
    for name, fit in CALIBRATION_METHODS.items():
        if name != "raw" and holdout_logits is None:
            continue
        temperature = fit(holdout_logits, holdout_labels)
        rows += [dict(calibration=name, metric=m, value=v)
                 for m, v in calibration_metrics(test_logits, test_labels, temperature).items()]
        if name != "raw":
            rows.append(dict(calibration=name, metric="temperature", value=temperature))
    return rows


def bootstrap_se(confidence, correct, norm: str, resamples: int = 200, seed: int = 0) -> float:
    """Bootstrap standard error of the adaptive-bin calibration error
    (``norm`` "l2" = RMS, "l1" = MAD): ``resamples`` draws of the test set with
    replacement, from ``seed``."""
    confidence, correct = np.asarray(confidence), np.asarray(correct)
    rng = np.random.default_rng(seed)
    draws = [calibration_error(confidence[i], correct[i], norm=norm)
             for i in (rng.integers(0, len(confidence), len(confidence)) for _ in range(resamples))]
    return float(np.std(draws, ddof=1))


def reliability_bins(confidence, correct, bin_size: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Mean confidence and accuracy of each adaptive bin, for reliability diagrams."""
    mean_confidence, accuracy, _ = adaptive_bins(confidence, correct, bin_size)
    return mean_confidence, accuracy


def calibration_evaluation(run, test, train, device, root=None, resamples: int = 200,
                           seed: int = 0, runs_dir=None) -> dict:
    """The calibration of the trained ``run`` on ``test`` (an
    :class:`EvalDataSpec`), its temperature tuned on the hold-out of ``train``
    (the run's :class:`TrainingDataSpec`, ``holdout_fraction`` > 0). Returns
    ``rows`` (:func:`calibration_rows`, plus ``rms_se``/``mad_se`` from
    :func:`bootstrap_se`), ``bins`` (reliability bins per calibration),
    ``n_test`` and ``n_holdout``. Memoized by the run and the specs."""
    if not train.holdout_fraction > 0:
        raise ValueError(f"the temperature needs a hold-out: holdout_fraction="
                         f"{train.holdout_fraction}")
    device = torch.device(device)

    def compute() -> dict:
        test_data, holdout = test.build(root), train.build(root)[1]
        test_logits = predict_logits(run.model, test_data, device)
        labels = test_data.labels.numpy()
        rows = calibration_rows(test_logits, labels, predict_logits(run.model, holdout, device),
                                holdout.labels.numpy())
        temperature = next(r["value"] for r in rows if r["metric"] == "temperature")
        bins = {}
        for calibration, t in (("raw", 1.0), ("temperature", temperature)):
            confidence = softmax(test_logits, t).max(1)
            correct = ~top1_wrong(test_logits, labels)
            rows += [dict(calibration=calibration, metric=f"{name}_se",
                          value=bootstrap_se(confidence, correct, norm, resamples, seed))
                     for name, norm in (("rms", "l2"), ("mad", "l1"))]
            bins[calibration] = [v.tolist() for v in reliability_bins(confidence, correct)]
        return dict(rows=rows, bins=bins, n_test=len(labels), n_holdout=len(holdout))

    return memoized("calibration", run, [test, {"holdout_of": train.to_dict()}],
                    {"resamples": resamples, "seed": seed}, compute,
                    device=device, runs_dir=runs_dir)
