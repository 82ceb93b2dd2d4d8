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


# bf16 autocast's training rate over the float32 engine's on a 2-core CPU (WRN-16-1, batch
# 128; benchmarks/train_throughput.py, recorded in benchmarks/results/train_throughput_cpu.json,
# which tests/test_precision.py checks these against): with native bf16, and with bf16
# emulated (oneDNN capped at AVX2, as on a CPU without AVX512-BF16 or AMX).
MEASURED_CPU_BF16_RATIO = {"native": 1.7, "emulated": 0.1}


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where
    bf16 autocast trains the quick preset faster than float32; elsewhere it is
    emulated, and about ten times slower (:data:`MEASURED_CPU_BF16_RATIO`)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cpu_bf16_notice(device: torch.device, cpu_autocast: bool) -> str | None:
    """What to say once, up front, when target runs train under bf16 autocast on
    the CPU (an opt-in, ``cpu_precision="bf16"``; issue 23): whether this CPU
    has native bf16 and the measured rate against float32; ``None`` otherwise."""
    if not (cpu_autocast and device.type == "cpu"):
        return None
    kind = "native" if native_cpu_bf16() else "emulated"
    ratio = MEASURED_CPU_BF16_RATIO[kind]
    what = ("has native bf16 (AVX512-BF16 or AMX)" if kind == "native" else
            "has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated")
    return (f"cpu_precision='bf16' (opt-in): this CPU {what}; bf16 autocast measured "
            f"{ratio:g}x the float32 rate on such a CPU (benchmarks/results/"
            "train_throughput_cpu.md); the runs' keys differ from float32's")


def training_precision(device: torch.device, cpu_autocast: bool = False) -> str:
    """What a run trains in on ``device``: ``"bf16 autocast"`` or ``"float32"``
    (recorded in its provenance)."""
    return "bf16 autocast" if device.type == "cuda" or (device.type == "cpu" and cpu_autocast) \
        else "float32"


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (the eager module keeps the weights)."""
    return torch.compile(model) if enabled else model


# -- TensorFloat-32 (issue 27) -----------------------------------------------------------------
# torch allows TF32 for cuDNN convolutions by default (torch.backends.cudnn.allow_tf32), so on
# an Ampere or later GPU a "float32" convolution computes with a 10-bit mantissa unless it is
# turned off. The legacy flags are used (not the newer fp32_precision API): torch refuses to
# read the legacy flags once the two APIs are mixed.

def tf32_state() -> dict:
    """Whether TF32 is allowed now: ``{"cudnn": bool, "matmul": bool}`` (cuDNN
    convolutions; CUDA float32 matmuls). The flags exist and can be set on a
    CPU-only machine too, where they change nothing."""
    return {"cudnn": bool(torch.backends.cudnn.allow_tf32),
            "matmul": bool(torch.backends.cuda.matmul.allow_tf32)}


@contextlib.contextmanager
def tf32(enabled: bool):
    """Allow (``True``) or forbid (``False``) TensorFloat-32 for CUDA float32
    convolutions and matmuls inside the block; the previous flags are restored
    on exit, also after an error. Evaluation uses ``tf32(False)`` (the book's
    "float32" means float32; :func:`lib.training.engine.predict_logits`,
    :mod:`lib.evaluation.robustness`); training on CUDA ``tf32(True)``
    (:func:`training_tf32`)."""
    saved = tf32_state()
    torch.backends.cudnn.allow_tf32 = bool(enabled)
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved["cudnn"]
        torch.backends.cuda.matmul.allow_tf32 = saved["matmul"]


def training_tf32(device: torch.device) -> bool:
    """Whether training on ``device`` allows TF32: on CUDA, where the recipe
    already trains under bf16 autocast (TF32 then only touches the float32
    operations autocast leaves out); never elsewhere (it does not exist on a
    CPU). Recorded in each run's provenance (``info["tf32"]``). The official
    code trained in plain float32 on GPUs without TF32."""
    return torch.device(device).type == "cuda"
