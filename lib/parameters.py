"""The build's parameters (``make book`` variables, the notebooks' papermill
parameters) other than the preset: their valid values and their checks. Each
bad value raises ``ValueError`` naming the parameter, its ``make`` variable,
the value and the valid choices. Standard library only, so that
``python3 -m lib.presets check`` runs before anything is installed."""

from __future__ import annotations

from lib.validation import check_choice

# The ``device`` parameter's choices (``lib.devices.resolve_device``; ``cuda:N`` names one GPU).
DEVICE_CHOICES = ("auto", "cpu", "cuda")
# ``DRY_RUN`` (make book DRY_RUN=1, lib.dry_run): on, or off (empty by default).
DRY_RUN_CHOICES = ("1", "true", "yes", "0", "false", "no", "")
# What the target runs train in on the CPU (make book CPU_PRECISION=...; issue 23): float32,
# the default of every preset, or bf16 autocast, an opt-in that is about 1.7 times as
# fast on a CPU with native bf16 and about 10 times slower where bf16 is emulated (AVX2 only;
# lib.training.precision.cpu_bf16_notice says which, up front). CUDA trains in bf16 either way.
CPU_PRECISION_CHOICES = ("float32", "bf16")
# What ``SOURCE`` (make book SOURCE=official) can be: the source models trained here, or the
# paper's released networks (lib.weights), which exist for the paper preset only.
SOURCE_CHOICES = ("trained", "official")


def check_cpu_precision(value: str) -> str:
    """``value`` is one of :data:`CPU_PRECISION_CHOICES`; else a ``ValueError``
    naming the parameter (and its ``make`` variable), the value and the choices."""
    if value not in CPU_PRECISION_CHOICES:
        raise ValueError(f"cpu_precision={value!r} (CPU_PRECISION) is not valid; choose one "
                         "of: 'float32' (the default), 'bf16' (bf16 autocast on the CPU, an "
                         "opt-in: fast only on a CPU with native bf16)")
    return value


def check_source(source: str, preset: str) -> None:
    """``source`` is one of :data:`SOURCE_CHOICES`, and ``"official"`` only at the paper preset."""
    check_choice("source", source, SOURCE_CHOICES)
    if source == "official" and preset != "paper":
        raise ValueError(f"source='official' (SOURCE) is not valid at the {preset} preset: the "
                         "released networks are the paper's (CIFAR, Downsampled ImageNet); use "
                         "it with PRESET=paper, or source='trained'")


def check_source_world_size(value, source: str = "trained") -> int:
    """``value`` (an int, or its text from ``make``) is a positive integer, and
    1 unless the sources are trained here (``source="trained"``)."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"source_world_size={value!r} (SOURCE_WORLD_SIZE) is not valid; "
                         "valid: a positive integer, the processes (GPUs) that pre-trained "
                         "the sources with torchrun (default 1: one process)")
    if int(text) > 1 and source != "trained":
        raise ValueError(f"source_world_size={value!r} (SOURCE_WORLD_SIZE) is not valid with "
                         f"source={source!r}: the released networks are imported, not "
                         "trained here; leave it at 1")
    return int(text)


def check_dry_run(value: str) -> str:
    """``value`` (``DRY_RUN``'s text) is one of :data:`DRY_RUN_CHOICES` (any case)."""
    if value.lower() not in DRY_RUN_CHOICES:
        raise ValueError(f"dry_run={value!r} (DRY_RUN) is not valid; valid: 1, true, yes "
                         "(a dry run), 0, false, no or empty (none)")
    return value


def check_device(device: str) -> str:
    """``device`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    base, _, index = device.partition(":")
    if base != "cuda" or not index.isdigit():
        check_choice("device", device, DEVICE_CHOICES)
    return device


def check_data_root(data_root: str) -> str:
    """``data_root`` is not empty (an empty one would silently be the current directory)."""
    if not data_root.strip():
        raise ValueError(f"data_root={data_root!r} (DATA_ROOT) is empty; give the folder "
                         "that holds the datasets (default: ~/data), or leave DATA_ROOT unset")
    return data_root
