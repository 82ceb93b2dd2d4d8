"""Device-specific execution (issue: Devices): channels_last everywhere, bf16
autocast with float32 master weights on CUDA, optional ``torch.compile``."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` in channels_last memory format (weights stay float32)."""
    return model.to(device=device, memory_format=torch.channels_last)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op elsewhere (CPU trains in float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (the eager module keeps the weights)."""
    return torch.compile(model) if enabled else model
