"""The Makefile's check of its parameters, before anything is installed
(standard library only)::

    python3 -m lib.presets check quick --device auto --data-root ~/data [--dry-run 1] [--source trained]
"""

from __future__ import annotations

import sys

from lib.parameters import (check_cpu_precision, check_data_root, check_device, check_dry_run,
                            check_source, check_source_world_size)
from lib.presets.scales import get_preset

_USAGE = ("usage: python -m lib.presets check PRESET [--device DEVICE] [--data-root DATA_ROOT] "
          "[--dry-run DRY_RUN] [--source SOURCE] [--source-world-size N] "
          "[--cpu-precision float32|bf16]")


def check_parameters(preset: str, device: str | None = None, data_root: str | None = None,
                     dry_run: str | None = None, source: str | None = None,
                     source_world_size: str | None = None, cpu_precision: str | None = None):
    """What ``make`` validates before anything is installed: the preset, the
    device (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and a data root that is
    not empty (an empty one would silently be the current directory); each
    bad value raises ``ValueError`` naming the parameter, the value and the
    valid choices; so do a ``dry_run`` that is not one of
    :data:`~lib.parameters.DRY_RUN_CHOICES`, a bad ``source``, a bad
    ``source_world_size`` and a ``cpu_precision`` that is not one of
    :data:`~lib.parameters.CPU_PRECISION_CHOICES` (:mod:`lib.parameters`)."""
    get_preset(preset)
    if cpu_precision is not None:
        check_cpu_precision(cpu_precision)
    if source is not None:
        check_source(source, preset)
    if source_world_size is not None:
        check_source_world_size(source_world_size, source or "trained")
    if dry_run is not None:
        check_dry_run(dry_run)
    if device is not None:
        check_device(device)
    if data_root is not None:
        check_data_root(data_root)


def main(argv: list[str]) -> int:
    """``check PRESET [--OPTION VALUE]…``: 0 when every value is valid, else 2
    and one line naming the bad one."""
    if not argv or argv[0] != "check" or len(argv) % 2:
        print(_USAGE, file=sys.stderr)
        return 2
    options = dict(zip(argv[2::2], argv[3::2]))
    if set(options) - {"--device", "--data-root", "--dry-run", "--source",
                       "--source-world-size", "--cpu-precision"}:
        print(_USAGE, file=sys.stderr)
        return 2
    try:
        check_parameters(argv[1], options.get("--device"), options.get("--data-root"),
                         options.get("--dry-run"), options.get("--source"),
                         options.get("--source-world-size"), options.get("--cpu-precision"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
