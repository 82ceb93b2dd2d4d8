"""Whether the datasets a preset reads are in the data root, checked before
anything trains (issue: the paper preset, item 5): one
:class:`MissingDatasetsError` names every missing one, where it was looked for
and how to get it. Each dataset read from the data root is checked with its
loader's cheap "is it there" (:func:`lib.data.check_present`, no data read).
What a preset reads comes from its sections (:mod:`lib.preflight`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lib.data.errors import DatasetNotFoundError
from lib.data.registry import check_present, reads_data_root


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


def check_needs(preset: str, needs: dict[Need, list[str]], root: Path) -> list[str]:
    """Check that every need (each with the sections that read it) that is
    read from the data root is in ``root``; returns the names of those
    datasets. Raises :class:`MissingDatasetsError` naming every missing one
    of the ``preset`` (or the root, when it does not exist)."""
    missing: dict[str, list[DatasetNotFoundError]] = {}
    used_by: dict[str, list[str]] = {}
    for need, users in needs.items():
        if not reads_data_root(need.dataset):
            continue
        used_by.setdefault(need.dataset, [])
        used_by[need.dataset] += [u for u in users if u not in used_by[need.dataset]]
        try:
            check_present(need.dataset, need.split, root, **dict(need.options))
        except DatasetNotFoundError as error:
            errors = missing.setdefault(need.dataset, [])
            if str(error) not in map(str, errors):
                errors.append(error)
    if missing:
        raise MissingDatasetsError(preset, root, dict(sorted(missing.items())), used_by)
    return sorted(used_by)
