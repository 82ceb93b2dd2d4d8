"""The protocol every section of the paper follows (design.md §3).

A section is one module (or package) of :mod:`lib.sections` that builds one
:class:`Section` and adds it to :data:`lib.sections.SECTIONS`:

* ``settings``: its settings for every preset (:func:`per_preset` checks them
  against :data:`lib.presets.PRESETS` when the module is imported);
* ``plan(preset)``: every training run it needs, parents before children, as
  :class:`~lib.training.RunConfig` or, for a stage that depends on a trained
  parent (Forward/GLC stage 2), a :class:`DeferredRun`;
* ``run(session)``: trains or loads every run through the session (a
  :class:`~lib.run_context.RunContext`: ``train``, ``rows``, ``settings``),
  evaluates, and returns its tidy result rows (:func:`lib.results.tidy`);
* ``tables`` and ``figures``: name → ``draw(rows, settings, preset)``;
* ``claims(rows, settings, preset)``: its claims (:class:`lib.claims.Claim`),
  one per claim × target dataset.

Methods of a section (label noise corrections, imbalance baselines, Table 3's
rows) share one shape, :class:`Method`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lib.dry_run import settings_at
from lib.presets import PRESETS, Preset
from lib.registry import Registry
from lib.training.run_config import RunConfig
from lib.validation import check_choice

ARMS = ("scratch", "pretrained")


def per_preset(section: str, settings: Mapping[str, object]) -> dict:
    """``settings`` (preset name → the section's settings), checked to cover
    exactly the presets of :data:`PRESETS`: a missing or unknown preset fails
    at import, naming the section and the preset."""
    missing = [p for p in PRESETS if p not in settings]
    unknown = [p for p in settings if p not in PRESETS]
    if missing:
        raise ValueError(f"section {section!r} has no settings for preset(s) {missing}; "
                         f"it has {list(settings)}")
    if unknown:
        raise ValueError(f"section {section!r} has settings for unknown preset(s) {unknown}; "
                         f"presets: {list(PRESETS)}")
    return {name: settings[name] for name in PRESETS}


@dataclass(frozen=True)
class DeferredRun:
    """A planned run whose config depends on trained parents (e.g. the
    corrected stage 2 of Forward or GLC, whose loss needs the matrix estimated
    from stage 1). ``label`` names it; ``parents`` must be trained first."""

    label: str
    parents: tuple


def planned_configs(entries) -> list:
    """``entries`` (configs and deferred runs) with every ``init`` ancestor
    added before its child, duplicates (by run key) removed, order kept."""
    out, seen = [], set()

    def add(entry):
        if isinstance(entry, DeferredRun):
            for parent in entry.parents:
                add(parent)
            ident = ("deferred", entry.label)
        else:
            if entry.init is not None:
                add(entry.init)
            ident = entry.key()
        if ident not in seen:
            seen.add(ident)
            out.append(entry)

    for entry in entries:
        add(entry)
    return out


@dataclass(frozen=True)
class Method:
    """A method of a section, one shape for all of them.

    ``arms``: the arms it runs in ("scratch", "pretrained" or both);
    ``train(context, arm, cell) -> TrainedRun`` trains or loads every stage
    and returns the final run; ``plan(context, arm, cell)`` lists the runs it
    needs, parents first. ``cell`` is a dict of the section's axes (target,
    seed, corruption, gamma, …). ``facts`` holds fixed, method-specific values
    (e.g. ``trusted_fraction``)."""

    name: str
    title: str
    arms: tuple
    train: Callable = field(repr=False)
    plan: Callable = field(repr=False)
    in_paper: bool = True
    stages: int = 1
    facts: tuple = ()

    def __post_init__(self):
        for arm in self.arms:
            check_choice("arm", arm, ARMS)

    def fact(self, name: str, default=None):
        return dict(self.facts).get(name, default)

    @staticmethod
    def single_stage(name: str, title: str, arms: tuple, build: Callable, **kwargs) -> "Method":
        """A method that is one run: ``build(context, arm, cell) -> RunConfig``."""
        return Method(name, title, tuple(arms),
                      train=lambda context, arm, cell: context.train(build(context, arm, cell)),
                      plan=lambda context, arm, cell: [build(context, arm, cell)], **kwargs)


@dataclass(frozen=True)
class MethodContext:
    """What a :class:`Method` builds its runs from: the preset, the section's
    settings and, while running, the session that trains (a
    :class:`~lib.run_context.RunContext`; ``None`` when only planning)."""

    preset: Preset
    settings: object
    session: object = None

    def train(self, config: RunConfig):
        if self.session is None:
            raise RuntimeError("a planning context cannot train; pass the session")
        return self.session.train(config)


def method_registry(section: str) -> Registry:
    """An empty registry of a section's :class:`Method` objects."""
    return Registry(f"{section} method")


@dataclass(frozen=True)
class Section:
    """One section of the paper, as the notebooks, the sweep runner and the
    results overview see it (see the module docstring)."""

    name: str
    title: str
    paper: str  # where in the paper, e.g. "§3.1, Table 1, Figures 1 and 2"
    settings: Mapping[str, object]
    plan: Callable[[Preset], list] = field(repr=False)
    run: Callable = field(repr=False)
    claims: Callable = field(repr=False)
    tables: Mapping[str, Callable] = field(default_factory=dict, repr=False)
    figures: Mapping[str, Callable] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        per_preset(self.name, self.settings)

    def settings_for(self, preset: str | Preset):
        """The section's settings at ``preset`` (a name or a :class:`Preset`;
        a dry-run preset gets them shrunk, :mod:`lib.dry_run`)."""
        name = preset if isinstance(preset, str) else preset.name
        check_choice("preset", name, PRESETS)
        return settings_at(self.settings, PRESETS[name] if isinstance(preset, str) else preset)

    def planned(self, preset: str | Preset) -> list:
        """:meth:`plan` with parents added first and duplicates removed."""
        preset = PRESETS[preset] if isinstance(preset, str) else preset
        return planned_configs(self.plan(preset))

    def table(self, name: str, rows, preset: str | Preset):
        check_choice(f"{self.name} table", name, self.tables)
        preset = PRESETS[preset] if isinstance(preset, str) else preset
        return self.tables[name](rows, self.settings_for(preset), preset)

    def figure(self, name: str, rows, preset: str | Preset, data_root=None):
        """Figure ``name``; ``data_root`` reaches figure functions that take it
        (those that show images of a dataset)."""
        check_choice(f"{self.name} figure", name, self.figures)
        preset = PRESETS[preset] if isinstance(preset, str) else preset
        draw = self.figures[name]
        extra = ({"data_root": data_root}
                 if "data_root" in inspect.signature(draw).parameters else {})
        return draw(rows, self.settings_for(preset), preset, **extra)

    def judge(self, rows, preset: str | Preset) -> list:
        """Every claim of the section on ``rows`` (one per claim × dataset)."""
        preset = PRESETS[preset] if isinstance(preset, str) else preset
        return list(self.claims(rows, self.settings_for(preset), preset))


def paper_arms_table(values: Mapping[str, Mapping[str, tuple]], metrics, title: str):
    """A paper table of two-arm values (``values[dataset][metric] = (from
    scratch, pre-trained)``) as a DataFrame: rows the datasets, columns
    (metric, arm), the index named ``title`` (which says it is the paper's)."""
    import pandas as pd

    return pd.DataFrame({(m, a): [values[d][m][i] for d in values]
                         for m in metrics for i, a in enumerate(ARMS)},
                        index=pd.Index(list(values), name=title))


def is_config(entry) -> bool:
    return isinstance(entry, RunConfig)
