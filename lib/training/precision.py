"""Device-specific execution (issue: Devices): channels_last everywhere, bf16
autocast with float32 master weights on CUDA (and on the CPU for the runs that
ask for it: ``RunConfig.cpu_autocast``), optional ``torch.compile``."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` in channels_last memory format (weights stay float32)."""
    return model.to(device=device, memory_format=torch.channels_last)


def autocast(device: torch.device, cpu: bool = False):
    """bf16 autocast on CUDA, and on the CPU when ``cpu`` (a run's
    ``cpu_autocast``); float32 otherwise. Weights stay float32 either way."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and cpu:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where
    bf16 autocast trains the quick preset about 1.5 times as fast as float32
    (benchmarks/train_throughput.py); elsewhere it is emulated, and slower."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def training_precision(device: torch.device, cpu_autocast: bool = False) -> str:
    """What a run trains in on ``device``: ``"bf16 autocast"`` or ``"float32"``
    (recorded in its provenance)."""
    return "bf16 autocast" if device.type == "cuda" or (device.type == "cpu" and cpu_autocast) \
        else "float32"


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (the eager module keeps the weights)."""
    return torch.compile(model) if enabled else model
