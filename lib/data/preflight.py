"""Every dataset a preset needs, checked before anything trains (issue: the
paper preset, item 5): at the paper preset CIFAR-10/100 and Downsampled
ImageNet (paper §3), Tiny ImageNet and the OOD sets of Table 4 (§4).

The needs come from the sections themselves: every planned run's training
set (its ``train`` split, and its ``test`` split, on which every trained
model is evaluated), every tracked test set, and the OOD sets of §4.1
(:mod:`lib.sections.ood`'s settings). Each dataset read from the data root is
checked with its loader's cheap "is it there" (:func:`lib.data.check_present`,
no data read); one :class:`MissingDatasetsError` names every missing one,
where it was looked for and how to get it. A preset that reads nothing from
the data root (smoke, quick: embedded and generated data) passes whatever the
root is, even one that does not exist.

    python -m lib.data.preflight paper ~/data
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lib.data.errors import DatasetNotFoundError
from lib.data.registry import check_present, reads_data_root, resolve_root


@dataclass(frozen=True)
class Need:
    """One split of a dataset (with its builder options) that a section reads."""

    dataset: str
    split: str
    options: tuple = ()


class MissingDatasetsError(DatasetNotFoundError):
    """Datasets of a preset are missing from the data root (or the root itself
    is). ``missing`` maps each dataset name to its loaders' errors."""

    def __init__(self, preset: str, root: Path, missing: dict, used_by: dict):
        self.preset, self.root, self.missing = preset, Path(root), missing
        self.name, self.path = ", ".join(missing), self.root  # as DatasetNotFoundError
        self.how_to_get = "; ".join(e.how_to_get for errors in missing.values() for e in errors)
        names, count = ", ".join(missing), len(missing)
        datasets = f"{count} dataset{'s' if count > 1 else ''}"
        if self.root.is_dir():
            head = (f"{datasets} needed by the {preset} preset {'are' if count > 1 else 'is'} "
                    f"missing from the data root {self.root} (data_root / DATA_ROOT): {names}")
        else:
            head = (f"the data root {self.root} (data_root / DATA_ROOT) does not exist; the "
                    f"{preset} preset reads {datasets} from it: {names}")
        lines = [head]
        for name, errors in missing.items():
            lines += [f"  - {name} (for {', '.join(used_by[name])}): {error}" for error in errors]
        FileNotFoundError.__init__(self, "\n".join(lines))


def _section_needs(preset) -> dict[Need, list[str]]:
    """Need → the sections that read it, from every section's plan and the OOD settings."""
    from lib.sections import get_section, section_names
    from lib.sections.base import is_config

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
    """Check that every dataset ``preset`` reads from ``data_root`` (default:
    ``$DATA_ROOT`` or ``~/data``; an empty string is the default, never the
    current directory) is there; returns their names. Raises
    :class:`MissingDatasetsError` naming every missing one (or the root,
    when it does not exist)."""
    from lib.presets import get_preset

    spec = get_preset(preset) if isinstance(preset, str) else preset
    root = resolve_root(data_root)
    needs = needed_datasets(spec)
    missing: dict[str, list[DatasetNotFoundError]] = {}
    used_by: dict[str, list[str]] = {}
    for need, users in needs.items():
        used_by.setdefault(need.dataset, [])
        used_by[need.dataset] += [u for u in users if u not in used_by[need.dataset]]
        try:
            check_present(need.dataset, need.split, root, **dict(need.options))
        except DatasetNotFoundError as error:
            errors = missing.setdefault(need.dataset, [])
            if str(error) not in map(str, errors):
                errors.append(error)
    if missing:
        raise MissingDatasetsError(spec.name, root, dict(sorted(missing.items())), used_by)
    return sorted(used_by)


def main(argv: list[str]) -> int:
    """``PRESET [DATA_ROOT]``: exit 0 and one line when everything is there,
    else 1 and the list of missing datasets (no traceback)."""
    if len(argv) not in (1, 2):
        print("usage: python -m lib.data.preflight PRESET [DATA_ROOT]", file=sys.stderr)
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
