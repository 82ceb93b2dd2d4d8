"""§3.1's plan and run: every method × arm × strength × seed, Figure 1's long
run and the class-exclusion check's cells, trained through the run context;
the rows are per-cell test errors, GLC's and Forward's estimated matrices and
each method's area under its error curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.dry_run import settings_at
from lib.experiments import tracked_count
from lib.metrics import area_under_error_curve
from lib.presets import PRESETS, Preset
from lib.results import tidy
from lib.sections.base import ARMS
from lib.sections.label_noise.methods import METHODS, NAME, Study
from lib.sections.label_noise.settings import SETTINGS, LabelNoiseSettings
from lib.training import TrainedRun
from lib.validation import check_choice


def plan(preset: str | Preset) -> list:
    """Every run of the sweep (stage 1 as configs, each stage 2 as a
    :class:`DeferredRun`), then Figure 1's long run and its pre-trained
    reference, per target, then the class-exclusion check's cells (No
    Correction, pre-trained); :meth:`Section.planned` adds the source runs."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    check_choice("preset", preset.name, PRESETS)
    s = settings_at(SETTINGS, preset)
    study, out = Study(preset, s), []
    for target in s.targets:
        for cell in study.cells(target):
            for arm in ARMS:
                for name in s.methods:
                    out += METHODS[name].plan(study, arm, cell)
        for seed in s.seeds:
            out.append(study.long_run(target, seed))
            out += METHODS["no_correction"].plan(study, "pretrained",
                                                 study.long_cell(target, seed))
    for cell in study.check_cells():
        out += METHODS["no_correction"].plan(study, "pretrained", cell)
    return out


def _cell_rows(session, study: Study, run: TrainedRun, method: str, arm: str, cell: dict):
    """A cell's ``error`` row (and, for GLC, its trusted count)."""
    result = study.test_error(run, cell["target"])
    entries = [dict(metric="error", value=result["error"], unit="%", n=result["n"])]
    params = dict(run.config.objective_params)
    if "num_trusted" in params:
        entries.append(dict(metric="trusted_examples", value=params["num_trusted"],
                            unit="images"))
    return session.rows(run, entries, dataset=cell["target"], method=method, arm=arm,
                        corruption=cell["corruption"], source=cell.get("source", ""))


def _long_run_rows(session, run: TrainedRun, target: str, strength: float,
                   n: int) -> list[dict]:
    """Figure 1: the long run's clean test error after every epoch, tracked on
    the preset's ``track_size`` of the ``n`` test images the cells are scored on."""
    tracked = tracked_count(run.config, n)
    return session.rows(run, [dict(metric="error", value=100.0 * r["test_error"], unit="%",
                                   n=tracked, epoch=int(r["epoch"])) for r in run.history],
                        dataset=target, method="no_correction", arm="scratch",
                        corruption=strength)


def trapezoid_weights(strengths) -> np.ndarray:
    """``w`` with ``Σ wᵢ·eᵢ`` = the trapezoid area under errors ``e`` at the
    sorted ``strengths`` (:func:`area_under_error_curve`)."""
    s = np.sort(np.asarray(strengths, float))
    gaps = np.diff(s)
    return (np.concatenate([[0.0], gaps]) + np.concatenate([gaps, [0.0]])) / 2


def cell_errors(rows: pd.DataFrame, settings: LabelNoiseSettings,
                source: str | None = "") -> pd.DataFrame:
    """The sweep's per-cell ``error`` rows: no epoch, a strength of the
    settings, pre-trained on ``source`` ("" = the preset's source, the main
    sweep; a variant's label: the class-exclusion check; ``None``: any)."""
    rows = rows if source is None else rows[rows.source == source]
    return rows[(rows.metric == "error") & rows.epoch.isna()
                & rows.corruption.isin(settings.strengths)]


def areas(rows: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """The ``error_auc`` rows pre-trained on ``source`` (as :func:`cell_errors`)."""
    return rows[(rows.metric == "error_auc") & (rows.source == source)]


def area_rows(rows, settings: LabelNoiseSettings) -> list[dict]:
    """One ``error_auc`` row (unit "%·s") per (dataset, method, arm, source,
    seed): the trapezoid area under test error (%) against the settings'
    strengths; ``wall_time_s`` sums the cells' final runs, ``n`` is the test
    images of each error."""
    frame = cell_errors(tidy(rows), settings, source=None)
    out = []
    for (dataset, method, arm, source, seed), group in frame.groupby(
            ["dataset", "method", "arm", "source", "seed"], sort=False):
        out.append(dict(
            section=NAME, dataset=dataset, method=method, arm=arm, source=source,
            seed=int(seed),
            metric="error_auc", unit="%·s", n=int(group.n.min()),
            value=area_under_error_curve(group.corruption.to_numpy(float),
                                         group.value.to_numpy(float)),
            wall_time_s=float(group.wall_time_s.astype(float).sum())))
    return out


def run(session) -> list[dict]:
    """Train or load every cell, Figure 1's long run and its reference, then
    the class-exclusion check's cells; the rows: per-cell test errors and GLC
    trusted counts, per-epoch errors of the long run, and the area under each
    error curve (the check's with its ``source``)."""
    s = session.settings
    study = Study(session.preset, s, train=session.train, root=session.data_root,
                  device=session.device, runs_dir=session.runs_dir)
    rows = []
    for target in s.targets:
        for cell in study.cells(target):
            for arm in ARMS:
                for name in s.methods:
                    final = METHODS[name].train(study, arm, cell)
                    rows += _cell_rows(session, study, final, name, arm, cell)
        n = next(r["n"] for r in rows if r["dataset"] == target and r["metric"] == "error")
        for seed in s.seeds:
            rows += _long_run_rows(session, study.train(study.long_run(target, seed)), target,
                                   float(s.long_run_strength), n)
            if s.long_run_strength not in s.strengths:
                cell = study.long_cell(target, seed)
                reference = METHODS["no_correction"].train(study, "pretrained", cell)
                rows += _cell_rows(session, study, reference, "no_correction", "pretrained",
                                   cell)
    for cell in study.check_cells():
        checked = METHODS["no_correction"].train(study, "pretrained", cell)
        rows += _cell_rows(session, study, checked, "no_correction", "pretrained", cell)
    return rows + area_rows(rows, s)
