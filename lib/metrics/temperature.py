"""Softmax, negative log-likelihood and temperature scaling (paper §4.2).

Temperature scaling (Guo et al., 2017) divides the logits by one scalar T > 0
chosen to minimise the NLL on held-out data; the paper tunes T on 10% of the
training set held out from training (§4.2, "Setup"). T > 1 softens (lowers the
confidence of) an over-confident model; T < 1 sharpens it.

Calibration methods are registered in :data:`CALIBRATION_METHODS` with
``@calibration_method(name)``: ``fit(holdout_logits, holdout_labels) -> T``,
applied as ``softmax(logits, T)``. ``"raw"`` (T = 1, the model as trained)
needs no held-out data; every other method is fitted on it
(:func:`list_calibration_methods`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
import warnings

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from lib.registry import Registry

from ._inputs import as_labels, as_logits, check_positive_float

CALIBRATION_METHODS: Registry[Callable] = Registry("calibration")
calibration_method = CALIBRATION_METHODS.register
list_calibration_methods = CALIBRATION_METHODS.names

#: Search interval for T, in log space: T in [e^-7, e^7] ~ [0.0009, 1097].
_LOG_T_BOUNDS = (-7.0, 7.0)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return z - logsumexp(z, axis=1, keepdims=True)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax(logits / temperature) as a float64 (N, K) array.

    Numerically stable (the row maximum is subtracted before exponentiating).
    """
    z = as_logits(logits) / check_positive_float(temperature, "temperature")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(z: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(_log_softmax(z)[np.arange(z.shape[0]), labels]))


def negative_log_likelihood(logits, labels) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits), in nats.

    ``logits``: (N, K); ``labels``: (N,) integers in [0, K). Lower is better.
    """
    z = as_logits(logits)
    y = as_labels(labels, z.shape[1], z.shape[0])
    return _nll(z, y)


@calibration_method("raw")
def no_calibration(logits=None, labels=None) -> float:
    """The model as trained: temperature 1, whatever the held-out data."""
    return 1.0


@calibration_method("temperature")
def tune_temperature(logits, labels) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al., 2017; §4.2).

    Minimises over log T with bounded Brent search (``scipy.optimize.minimize_scalar``)
    in float64. The NLL is convex in 1/T, hence unimodal in log T, so the 1-D search
    finds the global minimum inside the bounds [e^-7, e^7]. If the optimum lies on a
    bound (e.g. logits no better than chance want T -> infinity) a ``RuntimeWarning``
    is raised and the bound is returned. Apply the result as ``softmax(logits, T)``.
    """
    z = as_logits(logits)
    y = as_labels(labels, z.shape[1], z.shape[0])
    lo, hi = _LOG_T_BOUNDS
    result = minimize_scalar(
        lambda log_t: _nll(z / math.exp(log_t), y),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-8, "maxiter": 500},
    )
    log_t = float(result.x)
    if min(log_t - lo, hi - log_t) < 1e-3:
        warnings.warn(
            f"tune_temperature: optimum at the search bound (T={math.exp(log_t):.4g}); "
            "the logits may carry no usable confidence signal",
            RuntimeWarning,
            stacklevel=2,
        )
    return math.exp(log_t)
