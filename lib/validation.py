"""Uniform argument checks: every bad input names the parameter, the value and
the valid choices."""

from __future__ import annotations

from collections.abc import Iterable


def check_choice(parameter: str, value, choices: Iterable):
    """Return ``value`` if it is one of ``choices``; else raise ``ValueError``
    naming the parameter, the value and every valid choice."""
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{parameter}={value!r} is not valid; choose one of: {valid}")
    return value


def check_type(parameter: str, value, expected_type, *, allow_none: bool = False):
    """Return ``value`` if it is an instance of ``expected_type`` (bools are not
    accepted as numbers); else raise ``TypeError`` naming parameter and value."""
    if value is None and allow_none:
        return value
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    is_bool = isinstance(value, bool) and bool not in types
    if is_bool or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise TypeError(
            f"{parameter}={value!r} has type {type(value).__name__}; expected {names}"
        )
    return value


def check_range(parameter: str, value, low=None, high=None):
    """Return ``value`` if ``low <= value <= high`` (either bound optional)."""
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{parameter}={value!r} is out of range; valid: [{lo}, {hi}]")
    return value
