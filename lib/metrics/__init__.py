"""Metrics for robustness and uncertainty (paper §3.1, §4.1, §4.2).

All metrics take numpy arrays or torch tensors and return plain floats or numpy
arrays. Rates and errors are fractions in [0, 1], except
:func:`area_under_error_curve`, which keeps the units of the errors it is given.
"""

from .classification import top1_error, top1_wrong
from .calibration import adaptive_bins, brier_score, calibration_error, expected_calibration_error
from .error_curve import area_under_error_curve
from .imbalance import imbalance_errors, minority_classes
from .ood import (OOD_SCORES, energy_score, list_ood_scores, max_logit_score, max_softmax_score,
                  ood_metrics, ood_score)
from .temperature import (CALIBRATION_METHODS, calibration_method, list_calibration_methods,
                          negative_log_likelihood, no_calibration, softmax, tune_temperature)

# The registries OOD_SCORES and CALIBRATION_METHODS are importable too; __all__ lists the callables.
__all__ = [
    "area_under_error_curve",
    "brier_score",
    "adaptive_bins",
    "calibration_error",
    "calibration_method",
    "energy_score",
    "expected_calibration_error",
    "imbalance_errors",
    "list_calibration_methods",
    "list_ood_scores",
    "max_logit_score",
    "max_softmax_score",
    "minority_classes",
    "negative_log_likelihood",
    "no_calibration",
    "ood_metrics",
    "ood_score",
    "softmax",
    "top1_error",
    "top1_wrong",
    "tune_temperature",
]
