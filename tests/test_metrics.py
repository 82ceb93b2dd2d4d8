"""Tests for lib.metrics, each metric checked against an independent computation
(scikit-learn, scipy, torch or a brute-force loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

import lib.metrics as M


# ----------------------------------------------------------------------------- helpers
def sklearn_ood(s_in, s_out, recall=0.95):
    """Independent reference: OOD positive, FPR at the first ROC point with TPR >= recall."""
    y = np.r_[np.ones(len(s_out)), np.zeros(len(s_in))]
    s = np.r_[s_out, s_in]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return {
        "auroc": roc_auc_score(y, s),
        "aupr": average_precision_score(y, s),
        "fpr": fpr[np.searchsorted(tpr, recall, side="left")],
    }


def brute_calib(conf, correct, bin_size, norm, official_drop=False):
    """Loop over explicit bins; `official_drop` mimics calib_err's range(len(bins) - 1)."""
    order = np.argsort(conf, kind="stable")
    conf, correct = np.asarray(conf)[order], np.asarray(correct, float)[order]
    n = len(conf)
    bins = [[i * bin_size, (i + 1) * bin_size] for i in range(n // bin_size)] or [[0, n]]
    bins[-1][1] = n
    if official_drop:
        bins = bins[:-1]
    total = 0.0
    for lo, hi in bins:
        d = abs(np.mean(conf[lo:hi]) - np.mean(correct[lo:hi]))
        if norm == "l2":
            total += (hi - lo) / n * d * d
        elif norm == "l1":
            total += (hi - lo) / n * d
        else:
            total = max(total, d)
    return math.sqrt(total) if norm == "l2" else total


def sample_calibration(n, seed):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.1, 1.0, size=n)
    correct = rng.uniform(size=n) < conf**1.5  # over-confident model
    return conf, correct


# ----------------------------------------------------------------------------- OOD
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_in,n_out", [(200, 100), (137, 61), (50, 400)])
def test_ood_metrics_match_sklearn(seed, n_in, n_out):
    rng = np.random.default_rng(seed)
    s_in = rng.normal(0.0, 1.0, n_in)
    s_out = rng.normal(1.0, 1.5, n_out)
    got, ref = M.ood_metrics(s_in, s_out), sklearn_ood(s_in, s_out)
    assert set(got) == {"auroc", "aupr", "fpr"}
    for key in ref:
        assert isinstance(got[key], float)
        assert got[key] == pytest.approx(ref[key], abs=1e-12), key


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("recall", [0.95, 0.8, 0.5, 1.0, 0.07])
def test_ood_metrics_heavy_ties_match_sklearn(seed, recall):
    rng = np.random.default_rng(seed)
    s_in = rng.integers(0, 6, 300).astype(float)  # few distinct values: many ties
    s_out = rng.integers(2, 8, 120).astype(float)
    got, ref = M.ood_metrics(s_in, s_out, recall=recall), sklearn_ood(s_in, s_out, recall)
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12), key


def test_ood_tie_threshold_includes_all_tied_scores():
    # 95% recall needs the score 1.0, which all in-distribution examples share too.
    s_out = np.r_[np.full(18, 5.0), 1.0, 1.0]  # 18/20 = 90% at 5.0
    s_in = np.ones(10)
    assert M.ood_metrics(s_in, s_out)["fpr"] == 1.0
    # recall 0.9 is reached at 5.0: nothing in-distribution flagged.
    assert M.ood_metrics(s_in, s_out, recall=0.9)["fpr"] == 0.0


def test_ood_all_scores_equal():
    res = M.ood_metrics(np.zeros(30), np.zeros(10))
    assert res["auroc"] == 0.5
    assert res["aupr"] == pytest.approx(10 / 40)
    assert res["fpr"] == 1.0


def test_ood_perfect_and_reversed_separation():
    s_in, s_out = np.linspace(0, 1, 50), np.linspace(2, 3, 20)
    assert M.ood_metrics(s_in, s_out) == {"auroc": 1.0, "aupr": 1.0, "fpr": 0.0}
    worst = M.ood_metrics(s_out, s_in)  # in-distribution scores higher: everything flagged
    assert worst["auroc"] == 0.0 and worst["fpr"] == 1.0


def test_ood_direction_convention():
    # OOD is positive and higher = more anomalous: AUROC > 0.5 when OOD scores higher.
    rng = np.random.default_rng(0)
    assert M.ood_metrics(rng.normal(0, 1, 100), rng.normal(2, 1, 100))["auroc"] > 0.9


def test_ood_numpy_torch_and_lists_agree():
    rng = np.random.default_rng(1)
    s_in, s_out = rng.normal(size=80).astype(np.float32), rng.normal(1, 1, 40).astype(np.float32)
    ref = M.ood_metrics(s_in, s_out)
    assert M.ood_metrics(torch.from_numpy(s_in), torch.from_numpy(s_out)) == ref
    assert M.ood_metrics(s_in.tolist(), s_out.tolist()) == ref


@pytest.mark.parametrize("bad", [np.array([]), np.array([0.1, np.nan]), np.array([np.inf, 0.0])])
@pytest.mark.parametrize("which", ["anomaly_in", "anomaly_out"])
def test_ood_rejects_bad_scores(bad, which):
    good = np.array([0.1, 0.2, 0.3])
    kwargs = {"anomaly_in": good, "anomaly_out": good, which: bad}
    with pytest.raises(ValueError, match=which):
        M.ood_metrics(**kwargs)


@pytest.mark.parametrize("recall", [0.0, -0.1, 1.01, float("nan")])
def test_ood_rejects_bad_recall(recall):
    with pytest.raises(ValueError, match="recall"):
        M.ood_metrics([0.0, 1.0], [1.0, 2.0], recall=recall)


# ----------------------------------------------------------------------------- scores
def test_anomaly_scores_match_independent_computation():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, size=(64, 10))
    t = torch.from_numpy(logits)
    np.testing.assert_allclose(M.max_softmax_score(logits), -scipy_softmax(logits, axis=1).max(axis=1))
    np.testing.assert_allclose(M.energy_score(logits), -torch.logsumexp(t, dim=1).numpy())
    np.testing.assert_allclose(M.energy_score(logits, 2.0), -2.0 * torch.logsumexp(t / 2.0, dim=1).numpy())
    np.testing.assert_allclose(M.max_logit_score(logits), -logits.max(axis=1))
    np.testing.assert_allclose(M.max_softmax_score(t.float()), M.max_softmax_score(logits), rtol=1e-5)


def test_softmax_is_stable_and_correct():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = M.softmax(logits)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, scipy_softmax(logits, axis=1), atol=1e-15)
    np.testing.assert_allclose(M.softmax(logits, temperature=4.0), scipy_softmax(logits / 4.0, axis=1))
    with pytest.raises(ValueError, match="temperature"):
        M.softmax(logits, temperature=0.0)


# ----------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("norm", ["l2", "l1", "max"])
@pytest.mark.parametrize("n,bin_size", [(1000, 100), (1037, 100), (250, 100), (99, 100), (61, 7)])
@pytest.mark.parametrize("drop", [False, True])
def test_calibration_error_matches_brute_force(norm, n, bin_size, drop):
    conf, correct = sample_calibration(n, seed=n + bin_size)
    if drop and n < 2 * bin_size:
        with pytest.warns(RuntimeWarning):
            assert M.calibration_error(conf, correct, norm, bin_size, drop_last_bin=True) == 0.0
        return
    got = M.calibration_error(conf, correct, norm=norm, bin_size=bin_size, drop_last_bin=drop)
    assert isinstance(got, float)
    assert got == pytest.approx(brute_calib(conf, correct, bin_size, norm, official_drop=drop), abs=1e-12)


def test_calibration_error_hand_computed_remainder_joins_last_bin():
    # 5 examples, bin_size 2: bins {0,1} and {2,3,4} (remainder joins the last bin).
    conf = np.array([0.9, 0.1, 0.5, 0.3, 0.7])  # sorted: 0.1 0.3 | 0.5 0.7 0.9
    correct = np.array([1, 0, 0, 1, 1])  # sorted:   0   1  |  0   1   1
    d1, d2 = abs(0.2 - 0.5), abs(0.7 - 2 / 3)
    assert M.calibration_error(conf, correct, "l1", 2) == pytest.approx(2 / 5 * d1 + 3 / 5 * d2)
    assert M.calibration_error(conf, correct, "l2", 2) == pytest.approx(math.sqrt(2 / 5 * d1**2 + 3 / 5 * d2**2))
    assert M.calibration_error(conf, correct, "max", 2) == pytest.approx(max(d1, d2))
    # Official variant: last bin dropped, the kept weight is still 2/N.
    assert M.calibration_error(conf, correct, "l1", 2, drop_last_bin=True) == pytest.approx(2 / 5 * d1)


def test_calibration_single_bin_and_perfect_calibration():
    conf = np.array([0.6, 0.7, 0.8])
    correct = np.array([1, 1, 0])
    expected = abs(conf.mean() - 2 / 3)
    for norm in ("l1", "l2", "max"):
        assert M.calibration_error(conf, correct, norm=norm) == pytest.approx(expected)
    assert M.calibration_error(np.ones(300), np.ones(300)) == 0.0


def test_drop_last_bin_differs_even_when_n_is_a_multiple():
    # The official loop skips the last bin for every N, not only when there is a remainder.
    conf, correct = sample_calibration(300, seed=3)
    full = M.calibration_error(conf, correct, norm="l1")
    dropped = M.calibration_error(conf, correct, norm="l1", drop_last_bin=True)
    assert dropped != full
    assert dropped == pytest.approx(brute_calib(conf, correct, 100, "l1", official_drop=True))


def test_calibration_error_is_a_fraction_and_input_types_agree():
    conf, correct = sample_calibration(500, seed=4)
    conf = conf.astype(np.float32)
    ref = M.calibration_error(conf, correct)
    assert 0.0 <= ref <= 1.0
    assert M.calibration_error(torch.from_numpy(conf), torch.from_numpy(correct)) == ref
    assert M.calibration_error(conf, correct.astype(np.int64)) == ref


def test_calibration_error_rejects_bad_inputs():
    conf, correct = sample_calibration(20, seed=5)
    with pytest.raises(ValueError, match=r"l2.*l1.*max"):
        M.calibration_error(conf, correct, norm="l3")
    with pytest.raises(ValueError, match="confidence"):
        M.calibration_error(np.r_[conf[:-1], np.nan], correct)
    with pytest.raises(ValueError, match="correct"):
        M.calibration_error(conf, correct[:-1])
    with pytest.raises(ValueError, match="confidence"):
        M.calibration_error(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="bin_size"):
        M.calibration_error(conf, correct, bin_size=0)


@pytest.mark.parametrize("num_bins", [15, 10, 1])
def test_expected_calibration_error_matches_brute_force(num_bins):
    conf, correct = sample_calibration(777, seed=num_bins)
    conf[:3] = [0.0, 1.0, 1 / num_bins]  # edges: 0 goes to the first bin, right edges are inclusive
    edges = np.linspace(0, 1, num_bins + 1)
    ref = 0.0
    for b in range(num_bins):
        lo, hi = edges[b], edges[b + 1]
        mask = (conf > lo) & (conf <= hi) if b > 0 else (conf <= hi)
        if mask.any():
            ref += mask.sum() / len(conf) * abs(conf[mask].mean() - correct[mask].mean())
    assert M.expected_calibration_error(conf, correct, num_bins) == pytest.approx(ref, abs=1e-12)


# ----------------------------------------------------------------------------- NLL, Brier
def test_nll_and_brier_match_independent_computation():
    rng = np.random.default_rng(6)
    logits = rng.normal(0, 2, size=(200, 7))
    labels = rng.integers(0, 7, 200)
    ref_nll = -np.mean(scipy_log_softmax(logits, axis=1)[np.arange(200), labels])
    assert M.negative_log_likelihood(logits, labels) == pytest.approx(ref_nll, rel=1e-12)
    t_nll = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert M.negative_log_likelihood(torch.from_numpy(logits), torch.from_numpy(labels)) == pytest.approx(t_nll)

    probs = scipy_softmax(logits, axis=1)
    ref_brier = np.mean([sum((probs[i, k] - (k == labels[i])) ** 2 for k in range(7)) for i in range(200)])
    assert M.brier_score(probs, labels) == pytest.approx(ref_brier, rel=1e-12)
    assert M.brier_score(np.eye(3), [0, 1, 2]) == 0.0
    assert M.brier_score(np.eye(3), [1, 2, 0]) == 2.0
    with pytest.raises(ValueError, match="probabilities"):
        M.brier_score(logits, labels)
    with pytest.raises(ValueError, match="labels"):
        M.negative_log_likelihood(logits, np.full(200, 7))


# ----------------------------------------------------------------------------- temperature
@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_tune_temperature_recovers_known_temperature(t_true):
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, size=(20000, 10))
    p = scipy_softmax(z / t_true, axis=1)
    labels = (p.cumsum(axis=1) > rng.uniform(size=(20000, 1))).argmax(axis=1)
    t_hat = M.tune_temperature(torch.from_numpy(z).float(), torch.from_numpy(labels))
    assert isinstance(t_hat, float)
    assert t_hat == pytest.approx(t_true, rel=0.05)
    # It is the minimiser of the NLL (checked with scipy's log_softmax).
    nll = lambda t: -np.mean(scipy_log_softmax(z / t, axis=1)[np.arange(len(z)), labels])
    assert nll(t_hat) <= min(nll(t_hat * 1.01), nll(t_hat / 1.01))


def test_tune_temperature_warns_without_signal():
    logits = np.array([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    with pytest.warns(RuntimeWarning, match="bound"):
        M.tune_temperature(logits, [1, 1, 0, 0])  # always wrong: wants T -> infinity


# ----------------------------------------------------------------------------- error curve
def test_area_under_error_curve():
    s = np.linspace(0, 1, 11)
    rng = np.random.default_rng(8)
    errors = np.sort(rng.uniform(5, 90, 11))
    ref = trapezoid(errors, s)
    assert M.area_under_error_curve(s, errors) == pytest.approx(ref, rel=1e-12)
    perm = rng.permutation(11)
    assert M.area_under_error_curve(s[perm], errors[perm]) == pytest.approx(ref, rel=1e-12)
    assert M.area_under_error_curve(torch.from_numpy(s), torch.from_numpy(errors)) == pytest.approx(ref)
    assert M.area_under_error_curve(s, np.full(11, 10.0)) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "strengths,errors,match",
    [
        ([0.0, 0.5, 0.5, 1.0], [1, 2, 3, 4], "distinct"),
        ([0.0], [1.0], "strengths"),
        ([0.0, 1.0], [1.0, np.nan], "errors"),
        ([0.0, 0.5, 1.0], [1.0, 2.0], "same length"),
    ],
)
def test_area_under_error_curve_rejects_bad_inputs(strengths, errors, match):
    with pytest.raises(ValueError, match=match):
        M.area_under_error_curve(strengths, errors)


def test_public_api_is_exported():
    for name in M.__all__:
        assert callable(getattr(M, name))


def test_adaptive_bins_remainder_joins_last_bin():
    from lib.metrics import adaptive_bins

    confidence = np.linspace(0.5, 1.0, 250)
    correct = np.arange(250) % 2 == 0
    mean_conf, accuracy, counts = adaptive_bins(confidence, correct, bin_size=100)
    assert counts.tolist() == [100, 150]
    assert np.isclose(mean_conf[1], confidence[100:].mean())
    assert np.isclose(accuracy[0], correct[:100].mean())


# -- top-1 error: the one definition (lib.metrics.classification) ---------------------------

def test_top1_error_numpy_and_torch_agree():
    import torch

    from lib.metrics import top1_error, top1_wrong

    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [4.0, 0.0, 1.0]])
    labels = np.array([0, 2, 2, 1])
    assert top1_error(logits, labels) == pytest.approx(0.5)
    wrong = top1_wrong(torch.tensor(logits), torch.tensor(labels))
    assert isinstance(wrong, torch.Tensor) and wrong.tolist() == [False, True, False, True]
    assert top1_error(torch.tensor(logits), torch.tensor(labels)) == pytest.approx(0.5)


def test_top1_error_refuses_mismatched_or_empty_inputs():
    from lib.metrics import top1_error

    with pytest.raises(ValueError, match="one label per row"):
        top1_error(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError):
        top1_error(np.zeros((0, 2)), np.zeros(0, dtype=int))
