"""The three scales of every experiment, ``smoke``, ``quick`` and ``paper``
(design.md §4), and the preset a build runs:

* :mod:`lib.presets.scales`: the presets (:data:`PRESETS`, :func:`get_preset`);
* :mod:`lib.presets.resolution`: :func:`get_run_preset`, a preset with the
  build's parameters applied (dry run, official sources, data-parallel
  sources, CPU precision);
* :mod:`lib.presets.check`: the Makefile's check of its parameters.

Its value types (:mod:`lib.specs`) and the parameters' choices
(:mod:`lib.parameters`) are re-exported here. Everything here imports only
the standard library, so the Makefile validates ``PRESET``, ``DEVICE`` and
``DATA_ROOT`` before anything is installed::

    python3 -m lib.presets check quick --device auto --data-root ~/data [--dry-run 1] [--source trained]
"""

from lib.parameters import (
    CPU_PRECISION_CHOICES,
    DEVICE_CHOICES,
    DRY_RUN_CHOICES,
    SOURCE_CHOICES,
    check_cpu_precision,
    check_source,
    check_source_world_size,
)
from lib.presets.check import check_parameters
from lib.presets.resolution import get_run_preset
from lib.presets.scales import (PRESETS, SOURCE_TRACK_SIZE, TINY_IMAGENET_SOURCE, Preset,
                                get_preset, list_presets, preset_names)
from lib.specs import DataSpec, Recipe

__all__ = ["CPU_PRECISION_CHOICES", "DEVICE_CHOICES", "DRY_RUN_CHOICES", "PRESETS",
           "SOURCE_CHOICES", "SOURCE_TRACK_SIZE", "TINY_IMAGENET_SOURCE", "DataSpec", "Preset",
           "Recipe", "check_cpu_precision", "check_parameters", "check_source",
           "check_source_world_size", "get_preset", "get_run_preset", "list_presets",
           "preset_names"]
