"""Calibration metrics (paper §4.2).

``confidence`` is the probability the model gives its own prediction (usually the
max softmax probability) and ``correct`` says whether that prediction was right.
All errors are **fractions** (0.029, not 2.9); lower is better.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._inputs import as_binary, as_labels, as_probabilities, check_positive_int

NORMS = ("l2", "l1", "max")


def _confidence_and_correct(confidence, correct):
    conf = as_probabilities(confidence, "confidence", ndim=1)
    corr = as_binary(correct, "correct", conf.shape[0])
    return conf, corr


def adaptive_bins(confidence, correct, bin_size: int = 100):
    """Adaptive bins (paper §4.2): examples sorted by confidence (stable sort)
    and cut into bins of ``bin_size`` consecutive examples, the remainder
    joining the last bin (fewer than ``bin_size`` examples: one bin).

    Returns ``(mean confidence, accuracy, count)`` per bin, as float arrays.
    """
    bin_size = check_positive_int(bin_size, "bin_size")
    conf, corr = _confidence_and_correct(confidence, correct)
    n = conf.shape[0]
    order = np.argsort(conf, kind="stable")
    conf, corr = conf[order], corr[order]
    num_bins = max(n // bin_size, 1)
    bin_of = np.minimum(np.arange(n) // bin_size, num_bins - 1)
    counts = np.bincount(bin_of, minlength=num_bins).astype(np.float64)
    return (np.bincount(bin_of, conf, num_bins) / counts,
            np.bincount(bin_of, corr, num_bins) / counts, counts)


def calibration_error(
    confidence, correct, norm: str = "l2", bin_size: int = 100, drop_last_bin: bool = False
) -> float:
    """RMS / MAD calibration error with adaptive binning (paper §4.2; Hendrycks et al., 2019).

    Examples are sorted by confidence (stable sort: ties keep their input order) and
    cut into bins of ``bin_size`` consecutive examples; the remainder of
    ``N % bin_size`` examples joins the last bin, and fewer than ``bin_size``
    examples form a single bin. Bin b has weight w_b = n_b / N and gap
    d_b = |mean(confidence_b) - mean(correct_b)|.

    * ``norm="l2"``: RMS calibration error sqrt(sum_b w_b d_b^2) (the paper's "RMS");
    * ``norm="l1"``: MAD calibration error sum_b w_b d_b (the paper's "MAD");
    * ``norm="max"``: max_b d_b.

    ``drop_last_bin=True`` reproduces ``calib_err`` of the official code
    (hendrycks/outlier-exposure ``utils/calibration_tools.py``): it builds the same
    bins but its loop ``for i in range(len(bins) - 1)`` skips the last one (the last
    full bin *plus* the remainder) for every N, even a multiple of ``bin_size``; the
    kept bins are still weighted by n_b / N with N the total count, so the weights
    sum to less than 1. With a single bin nothing is left and the result is 0.0 (the
    official code returns 0 for bin_size <= N < 2 * bin_size and fails for N < bin_size);
    a ``RuntimeWarning`` says so.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    mean_confidence, accuracy, counts = adaptive_bins(confidence, correct, bin_size)
    n = int(counts.sum())
    gaps = np.abs(mean_confidence - accuracy)
    weights = counts / n
    if drop_last_bin:
        gaps, weights = gaps[:-1], weights[:-1]
        if gaps.size == 0:
            warnings.warn(
                f"calibration_error(drop_last_bin=True): {n} examples make a single bin of "
                f"size >= {bin_size}, which is dropped; returning 0.0",
                RuntimeWarning,
                stacklevel=2,
            )
            return 0.0
    if norm == "l2":
        return float(np.sqrt(np.sum(weights * gaps**2)))
    if norm == "l1":
        return float(np.sum(weights * gaps))
    return float(np.max(gaps))


def expected_calibration_error(confidence, correct, num_bins: int = 15) -> float:
    """Expected calibration error with ``num_bins`` equal-width bins (Guo et al., 2017).

    Bins are (i/M, (i+1)/M] for i = 0..M-1, with confidence 0 put in the first bin;
    ECE = sum_b (n_b / N) |accuracy_b - mean confidence_b| over non-empty bins.
    A fraction in [0, 1]. (The paper's MAD error is the adaptive-bin analogue.)
    """
    num_bins = check_positive_int(num_bins, "num_bins")
    conf, corr = _confidence_and_correct(confidence, correct)
    inner_edges = np.linspace(0.0, 1.0, num_bins + 1)[1:-1]
    bin_of = np.digitize(conf, inner_edges, right=True)
    counts = np.bincount(bin_of, minlength=num_bins)
    sum_gap = np.abs(np.bincount(bin_of, conf, num_bins) - np.bincount(bin_of, corr, num_bins))
    # |sum conf - sum correct| / N  ==  (n_b / N) * |mean conf - accuracy| per bin.
    return float(np.sum(sum_gap[counts > 0]) / conf.shape[0])


def brier_score(probabilities, labels) -> float:
    """Multi-class Brier score: mean over examples of sum_k (p_k - onehot(label)_k)^2.

    ``probabilities``: (N, K) rows summing to 1 (e.g. ``softmax(logits)``), not logits;
    ``labels``: (N,) integers in [0, K). Range [0, 2]; lower is better.
    """
    p = as_probabilities(probabilities, "probabilities", ndim=2)
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probabilities rows must sum to 1 (pass softmax(logits), not logits)")
    y = as_labels(labels, p.shape[1], p.shape[0])
    diff = p.copy()
    diff[np.arange(p.shape[0]), y] -= 1.0
    return float(np.mean(np.sum(diff**2, axis=1)))
