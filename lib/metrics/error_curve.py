"""Area under the error curve for label corruption (paper §3.1).

The paper trains at corruption strengths s = 0, 0.1, ..., 1.0 (11 runs) and
summarises them by the area under test error vs. s, linearly interpolated
(the trapezoid rule). Lower is better.
"""

from __future__ import annotations

import numpy as np

from ._inputs import as_float_array


def area_under_error_curve(strengths, errors) -> float:
    """Trapezoid-rule area under ``errors`` plotted against ``strengths`` (§3.1).

    ``errors`` keep their units: test errors in percent over s in [0, 1] give the
    paper's Table 1 numbers (e.g. 15.9). Pairs are sorted jointly by strength;
    duplicate strengths raise ``ValueError``. Needs at least two points.
    """
    s = as_float_array(strengths, "strengths", ndim=1, min_size=2)
    e = as_float_array(errors, "errors", ndim=1, min_size=2)
    if s.shape != e.shape:
        raise ValueError(f"strengths and errors must have the same length, got {s.size} and {e.size}")
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    if np.any(np.diff(s) == 0):
        raise ValueError(f"strengths must be distinct, got duplicates in {s.tolist()}")
    return float(np.sum(np.diff(s) * (e[1:] + e[:-1]) / 2.0))
