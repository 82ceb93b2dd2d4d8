"""Out-of-distribution detection metrics and anomaly scores (paper §4.1).

Conventions (design brief §7, as in the official outlier-exposure code, which calls
``get_measures(out_score, in_score)`` with score = -MSP):

* an **anomaly score** is higher for more anomalous inputs;
* OOD examples are the **positive** class;
* all metrics are **fractions** in [0, 1] (multiply by 100 for the paper's tables).

Anomaly scores are registered in :data:`OOD_SCORES` with ``@ood_score(name)``
(``logits (N, K) -> (N,)``, higher = more anomalous): the OOD evaluation, the
OOD page's default scores and the contract tests all read that registry, so a
new score is one decorated function here (:func:`list_ood_scores`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp
from scipy.stats import rankdata

from lib.registry import Registry

from ._inputs import as_float_array, as_logits, check_positive_float
from .temperature import softmax

OOD_SCORES: Registry[Callable] = Registry("score")
ood_score = OOD_SCORES.register
list_ood_scores = OOD_SCORES.names


def ood_metrics(anomaly_in, anomaly_out, recall: float = 0.95) -> dict:
    """AUROC, AUPR and FPR at ``recall`` for separating OOD from in-distribution data (§4.1).

    Parameters
    ----------
    anomaly_in, anomaly_out:
        1-D anomaly scores (higher = more anomalous) of in-distribution and OOD
        examples. OOD is the positive class.
    recall:
        Fraction of OOD examples that must be detected for the FPR, in (0, 1].

    Returns
    -------
    ``dict(auroc=, aupr=, fpr=)`` of plain floats, all fractions in [0, 1]:

    * ``auroc``: probability that a random OOD example scores higher than a random
      in-distribution one, ties counting 1/2 (equals ``sklearn.metrics.roc_auc_score``).
    * ``aupr``: average precision with OOD positive, sum_n (R_n - R_{n-1}) P_n over
      the distinct score thresholds (equals ``sklearn.metrics.average_precision_score``,
      which the official code uses).
    * ``fpr``: fraction of in-distribution examples flagged (score >= t) at the
      highest threshold t that flags at least ``recall`` of the OOD examples; all
      examples tied at t are flagged. (The official ``fpr_and_fdr_at_recall`` takes
      the threshold whose recall is *nearest* to ``recall``, which can fall below it;
      both agree when ``recall * len(anomaly_out)`` is reached exactly.)
    """
    s_in = as_float_array(anomaly_in, "anomaly_in", ndim=1)
    s_out = as_float_array(anomaly_out, "anomaly_out", ndim=1)
    if isinstance(recall, bool) or not isinstance(recall, (int, float, np.floating, np.integer)):
        raise TypeError(f"recall must be a number in (0, 1], got {recall!r}")
    recall = float(recall)
    if not (0.0 < recall <= 1.0):
        raise ValueError(f"recall must lie in (0, 1], got {recall!r}")
    n_in, n_out = s_in.size, s_out.size

    scores = np.concatenate([s_out, s_in])
    is_out = np.concatenate([np.ones(n_out), np.zeros(n_in)])

    # AUROC = Mann-Whitney U / (n_in * n_out), with average ranks for ties.
    ranks = rankdata(scores, method="average")
    auroc = (ranks[:n_out].sum() - n_out * (n_out + 1) / 2.0) / (n_in * n_out)

    # Average precision: walk thresholds from the highest score down; tied scores
    # enter together (one threshold per distinct value).
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_pos = scores[order], is_out[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(sorted_scores)), scores.size - 1]
    tp = np.cumsum(sorted_pos)[last_of_group]
    flagged = last_of_group + 1.0
    precision = tp / flagged
    recall_curve = tp / n_out
    aupr = float(np.sum(np.diff(np.r_[0.0, recall_curve]) * precision))

    # FPR at `recall`: the k-th highest OOD score, k = ceil(recall * n_out), is the
    # highest threshold detecting >= k OOD examples. The tiny slack stops float
    # round-off (e.g. 0.07 * 100 = 7.000000000000001) from bumping k up by one.
    k = min(max(math.ceil(recall * n_out - 1e-9), 1), n_out)
    threshold = np.sort(s_out)[::-1][k - 1]
    fpr = float(np.mean(s_in >= threshold))

    return {"auroc": float(auroc), "aupr": aupr, "fpr": fpr}


@ood_score("msp")  # the paper's score
def max_softmax_score(logits) -> np.ndarray:
    """Anomaly score -max_k softmax(logits)_k (MSP baseline, Hendrycks & Gimpel 2017).

    Shape (N,), values in [-1, -1/K]; higher = more anomalous. Used in §4.1.
    """
    return -softmax(logits).max(axis=1)


@ood_score("energy")  # beyond the paper
def energy_score(logits, temperature: float = 1.0) -> np.ndarray:
    """Anomaly score = free energy -T * logsumexp(logits / T) (Liu et al., 2020).

    Shape (N,); higher = more anomalous.
    """
    t = check_positive_float(temperature, "temperature")
    return -t * logsumexp(as_logits(logits) / t, axis=1)


@ood_score("max_logit")  # beyond the paper
def max_logit_score(logits) -> np.ndarray:
    """Anomaly score -max_k logits_k (MaxLogit, Hendrycks et al., 2022). Shape (N,); higher = more anomalous."""
    return -as_logits(logits).max(axis=1)
