"""Device selection: ``auto`` picks CUDA when present, else the CPU (design.md §3)."""

from __future__ import annotations

import os

import torch

from lib.parameters import DEVICE_CHOICES  # one list, checked before the install too
from lib.validation import check_choice


def resolve_device(device: str = "auto") -> torch.device:
    """Turn a device name into a ``torch.device``.

    ``cuda`` on a machine without a GPU raises a clear ``RuntimeError`` rather
    than failing later inside a kernel.
    """
    name = str(device)
    base = name.split(":")[0]
    check_choice("device", base, DEVICE_CHOICES)
    if base == "auto":
        name = base = "cuda" if torch.cuda.is_available() else "cpu"
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but no CUDA GPU is available on this "
            "machine; use device='cpu' or device='auto'"
        )
    if base == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))  # all cores, unless capped
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A short human-readable description of the hardware behind ``device``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
