"""What a section runs through (design.md §3): the section and its preset,
the data root, the device and the run cache. :meth:`RunContext.train` trains
or loads each run (``train_or_load``) and counts them (trained, from the
cache); :meth:`RunContext.rows` turns a run's measurements into result rows.
The notebook's session (:class:`lib.notebook.Session`) is one; the sweep's
workers (:mod:`lib.sweep.worker`) run a section through a bare one."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import torch

from lib.presets import Preset
from lib.training.run_cache import train_or_load


@dataclass
class RunContext:
    """A section (:class:`~lib.sections.base.Section`) at ``preset``, run on
    ``data_root`` and ``device`` into ``runs_dir`` (``None``: the default run
    cache); ``counts`` the runs trained and taken from the cache so far."""

    section: object  # lib.sections.base.Section
    preset: Preset
    device: torch.device
    data_root: Path | None
    _: KW_ONLY
    runs_dir: Path | None = None
    verbose: bool = True
    counts: dict = field(default_factory=lambda: {"trained": 0, "cached": 0}, repr=False)

    @property
    def settings(self):
        """The section's settings at this preset."""
        return self.section.settings_for(self.preset)

    def train(self, config):
        """``train_or_load(config)`` on this context's data root, device and run
        cache; progress goes to the terminal and the run's log, not the page."""
        run = train_or_load(config, root=self.data_root, device=self.device,
                            runs_dir=self.runs_dir, verbose=self.verbose)
        self.counts["cached" if run.from_cache else "trained"] += 1
        return run

    def rows(self, run, entries: list[dict], **fields) -> list[dict]:
        """Result rows for ``run``: each entry (metric, value, unit, axes…) plus
        ``fields`` (dataset, method, arm, axes…) and the run's provenance."""
        common = dict(section=self.section.name, seed=run.config.seed,
                      wall_time_s=run.wall_time_s, run_key=run.key)
        return [{**common, **fields, **entry} for entry in entries]
