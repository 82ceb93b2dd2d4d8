"""Shared input checking for :mod:`lib.metrics`.

Every public metric accepts numpy arrays, torch tensors or plain sequences and
converts them here, so that the error messages name the offending parameter.
"""

from __future__ import annotations

import numbers

import numpy as np


def to_numpy(x, name: str) -> np.ndarray:
    """Convert ``x`` (numpy array, torch tensor, sequence) to a numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc


def as_float_array(x, name: str, ndim: int | None = None, min_size: int = 1) -> np.ndarray:
    """A finite float64 array with ``ndim`` dimensions and at least ``min_size`` entries."""
    arr = to_numpy(x, name)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(
            f"{name} is empty" if min_size == 1 else f"{name} needs at least {min_size} entries, got {arr.size}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_logits(x, name: str = "logits") -> np.ndarray:
    """Finite float64 logits of shape (N, K), N >= 1, K >= 1."""
    arr = as_float_array(x, name, ndim=2)
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class column, got shape {arr.shape}")
    return arr


def as_labels(x, num_classes: int, n: int, name: str = "labels") -> np.ndarray:
    """Integer class labels of shape (n,), each in [0, num_classes)."""
    arr = to_numpy(x, name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got range [{arr.min()}, {arr.max()}]")
    return arr


def as_binary(x, name: str, n: int) -> np.ndarray:
    """A float64 array of 0/1 values (bools accepted) with shape (n,)."""
    arr = as_float_array(x, name, ndim=1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0/1 (or boolean) values")
    return arr


def as_probabilities(x, name: str, ndim: int, atol: float = 1e-6) -> np.ndarray:
    """Finite values in [0, 1] (up to ``atol`` rounding), clipped into [0, 1]."""
    arr = as_float_array(x, name, ndim=ndim)
    if arr.min() < -atol or arr.max() > 1 + atol:
        raise ValueError(f"{name} must lie in [0, 1], got range [{arr.min():.6g}, {arr.max():.6g}]")
    return np.clip(arr, 0.0, 1.0)


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value
