"""Every dataset a preset needs, checked before anything trains (issue: the
paper preset, item 5): at the paper preset CIFAR-10/100 and Downsampled
ImageNet (paper §3), Tiny ImageNet and the OOD sets of Table 4 (§4).

The needs come from the sections themselves: every planned run's training
set (its ``train`` split, and its ``test`` split, on which every trained
model is evaluated), every tracked test set, and the OOD sets of §4.1
(:mod:`lib.sections.ood`'s settings); :func:`lib.data.preflight.check_needs`
checks them and names every missing one. A preset that reads nothing from
the data root (smoke, quick: embedded and generated data) passes whatever the
root is, even one that does not exist.

    python -m lib.preflight paper ~/data
"""

from __future__ import annotations

import sys

from lib.data.preflight import MissingDatasetsError, Need, check_needs
from lib.data.registry import reads_data_root, resolve_root
from lib.presets import get_preset
from lib.sections import get_section, section_names
from lib.sections.base import is_config


def _section_needs(preset) -> dict[Need, list[str]]:
    """Need → the sections that read it, from every section's plan and the OOD settings."""
    needs: dict[Need, list[str]] = {}

    def add(need: Need, section: str) -> None:
        users = needs.setdefault(need, [])
        if section not in users:
            users.append(section)

    for name in section_names():
        for config in filter(is_config, get_section(name).planned(preset)):
            spec = config.data.dataset
            for split in ("train", "test"):
                add(Need(spec.name, split, spec.options), name)
            if config.track is not None:
                track = config.track.dataset
                add(Need(track.name, config.track.split, track.options), name)
    ood = get_section("ood").settings_for(preset)
    for target in ood.targets:
        for name in ood.ood_names(target.dataset):
            add(Need(name, "test"), "ood")
    return needs


def needed_datasets(preset) -> dict[Need, list[str]]:
    """The needs of ``preset`` (a name or a :class:`~lib.presets.Preset`) that
    are read from the data root, each with the sections that read it."""
    return {need: users for need, users in _section_needs(preset).items()
            if reads_data_root(need.dataset)}


def preflight(preset, data_root=None) -> list[str]:
    """Check that every dataset ``preset`` (a name or a
    :class:`~lib.presets.Preset`) reads from ``data_root`` (default:
    ``$DATA_ROOT`` or ``~/data``; an empty string is the default, never the
    current directory) is there; returns their names. Raises
    :class:`~lib.data.preflight.MissingDatasetsError` naming every missing one
    (or the root, when it does not exist)."""
    spec = get_preset(preset) if isinstance(preset, str) else preset
    return check_needs(spec.name, _section_needs(spec), resolve_root(data_root))


def main(argv: list[str]) -> int:
    """``PRESET [DATA_ROOT]``: exit 0 and one line when everything is there,
    else 1 and the list of missing datasets (no traceback)."""
    if len(argv) not in (1, 2):
        print("usage: python -m lib.preflight PRESET [DATA_ROOT]", file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else None
    try:
        found = preflight(argv[0], root)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        if isinstance(error, MissingDatasetsError):
            print("(to check the code path without the data: python -m lib.data.miniature DIR "
                  "writes a miniature root in the same formats, for make book DRY_RUN=1 "
                  "DATA_ROOT=DIR)", file=sys.stderr)
        return 1
    if found:
        print(f"data root {resolve_root(root)}: all {len(found)} dataset(s) of the {argv[0]} "
              f"preset found ({', '.join(found)})")
    else:
        print(f"the {argv[0]} preset reads nothing from the data root (embedded and "
              "generated data only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
