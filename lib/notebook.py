"""What every section notebook does first and last: validate the papermill
parameters, pick the device, start the provenance clock, and publish the
provenance line that opens the page (design.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lib.devices import describe_device, resolve_device
from lib.presets import Preset, get_preset
from lib.provenance import Provenance
from lib.validation import check_type


@dataclass
class Session:
    """A notebook's validated parameters and its provenance clock."""

    section: str
    preset: Preset
    device: torch.device
    data_root: Path | None
    provenance: Provenance

    def rows(self, run, entries: list[dict], **fields) -> list[dict]:
        """Result rows for ``run``: each entry (metric, value, …) plus ``fields``
        (section, dataset, method, arm, …) and the run's provenance."""
        common = dict(section=self.section, seed=run.config.seed, device=self.provenance.device,
                      commit=self.provenance.commit, wall_time_s=run.wall_time_s,
                      run_key=run.key)
        return [{**common, **fields, **entry} for entry in entries]

    def record(self, rows: list[dict]):
        """Append ``rows`` to this preset's result store."""
        from lib.results import record_results

        return record_results(rows, self.preset.name)

    def results(self, section: str | None = None):
        """This preset's stored rows (of one section, by default this notebook's)."""
        from lib.results import read_results

        store = read_results(self.preset.name)
        return store[store.section == (section or self.section)].copy()

    def describe(self) -> str:
        """The run's configuration (deterministic: compared by nbval)."""
        p = self.preset
        return "\n".join([
            f"section      : {self.section}",
            f"preset       : {p.name} ({p.description})",
            f"target       : {p.target} (train {p.train_size or 'all'}, test {p.test_size or 'all'})",
            f"source       : {p.source.name} {dict(p.source.options)}",
            f"architecture : {p.architecture}, {p.in_channels} input channel(s)",
            f"pre-train    : {p.pretrain}",
            f"from scratch : {p.scratch}",
            f"fine-tune    : {p.finetune}",
            f"seeds        : {list(p.seeds)}",
        ])


def start(section: str, preset, data_root=None, device="auto") -> Session:
    """Validate a notebook's parameters (a wrong name or type fails at once,
    naming the valid choices) and start its provenance clock."""
    check_type("preset", preset, str)
    check_type("data_root", data_root, (str, Path), allow_none=True)
    check_type("device", device, str)
    spec = get_preset(preset)
    resolved = resolve_device(device)
    root = Path(data_root).expanduser() if data_root not in (None, "") else None
    return Session(section, spec, resolved, root,
                   Provenance(preset=spec.name, device=describe_device(resolved)))


def publish_claims(session: Session, rows=None) -> dict:
    """Glue this section's headline numbers (``lib.claims``) for the results page."""
    from myst_nb import glue

    from lib.claims import claim_values

    values = claim_values(session.section, session.results() if rows is None else rows)
    for key, value in values.items():  # words without quotes, numbers as numbers
        glue(key, _Word(value) if isinstance(value, str) else value, display=False)
    return values


class _Word:
    """A glued word whose text/plain is the word itself (a str would get quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def publish_provenance(session: Session) -> str:
    """Glue the provenance line (``{glue:md}`provenance``` opens each page) and return it."""
    from IPython.display import Markdown
    from myst_nb import glue

    text = session.provenance.summary()
    glue("provenance", Markdown(text), display=False)
    return text


BENCHMARK_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def recorded_selection(csv_name: str, script: str, section: str | None = None):
    """A recorded recipe selection from ``benchmarks/results`` (the rows of
    ``section`` when given), printing where and at which commit it was
    measured; ``None``, saying which ``script`` records it, when absent."""
    import pandas as pd

    path = BENCHMARK_RESULTS / csv_name
    if not path.is_file():
        print(f"no recorded selection: run python {script}")
        return None
    table = pd.read_csv(path)
    if section is not None:
        table = table[table.section.str.startswith(section)]
    print(f"measured on {table.device.iloc[0]} at commit {table.commit.iloc[0]}")
    return table.drop(columns=["device", "commit", "date"])
