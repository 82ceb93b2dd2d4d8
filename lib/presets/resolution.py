"""The preset one build runs: a preset of :mod:`lib.presets.scales` with the
build's parameters applied (:mod:`lib.parameters`): shrunk to its dry run
(:mod:`lib.dry_run`), its sources the paper's released networks
(``SOURCE=official``), pre-trained data-parallel (``SOURCE_WORLD_SIZE``), its
target runs under bf16 autocast on the CPU (``CPU_PRECISION=bf16``)."""

from __future__ import annotations

from dataclasses import replace

from lib.dry_run import dry_run_preset
from lib.parameters import check_cpu_precision, check_source, check_source_world_size
from lib.presets.scales import Preset, get_preset


def get_run_preset(name: str, dry_run: bool = False, source: str = "trained",
                   source_world_size: int = 1, cpu_precision: str = "float32") -> Preset:
    """The preset called ``name``, shrunk to its dry run when ``dry_run``
    (:func:`lib.dry_run.dry_run_preset`), its source models the paper's
    released ones when ``source="official"`` (paper preset only:
    :func:`lib.releases.source_for`), its sources pre-trained data-parallel over
    ``source_world_size`` processes (:func:`~lib.parameters.check_source_world_size`),
    its target runs trained under bf16 autocast on the CPU when
    ``cpu_precision="bf16"`` (:data:`~lib.parameters.CPU_PRECISION_CHOICES`; a
    different run key)."""
    preset = get_preset(name)
    check_source(source, name)
    check_source_world_size(source_world_size, source)
    if check_cpu_precision(cpu_precision) == "bf16":
        preset = replace(preset, cpu_autocast=True)
    if source != "trained":
        preset = replace(preset, source_weights=source)
    if source_world_size != 1:
        preset = replace(preset, source_world_size=source_world_size)
    return dry_run_preset(preset) if dry_run else preset
