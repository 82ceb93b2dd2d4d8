"""Fixtures shared by several test files: the smoke run cache of the tests
that execute whole sections (tests/test_contracts.py, tests/test_stale_rows.py),
and a recorder of autocast use (evaluation must run in float32)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def smoke_runs_dir(tmp_path_factory) -> Path:
    """One run cache for the whole test session, so each section trains once:
    ``$RUNS_DIR`` when set (``make test`` sets a fresh one, which nbval's
    notebooks share), else a temporary folder (never the repository's runs/)."""
    env = os.environ.get("RUNS_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("smoke_runs")


@pytest.fixture
def smoke_env(smoke_runs_dir, tmp_path, monkeypatch) -> SimpleNamespace:
    """The environment of a section execution: the shared run cache and a
    result store of this test's own."""
    results = tmp_path / "results"
    monkeypatch.setenv("RUNS_DIR", str(smoke_runs_dir))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    return SimpleNamespace(runs=smoke_runs_dir, results=results)


@pytest.fixture
def autocast_calls(monkeypatch) -> list:
    """Replace ``lib.training.precision.autocast`` wherever a ``lib`` module
    holds it by a context that records the device it is entered for (with
    ``+cpu-bf16`` when a run asks for CPU autocast); the fixture's value is
    that record."""
    from lib.training import precision

    entered, original = [], precision.autocast

    @contextlib.contextmanager
    def recording(device, cpu=False):
        entered.append(str(device) + ("+cpu-bf16" if cpu else ""))
        yield

    for name, module in list(sys.modules.items()):
        if name.startswith("lib") and getattr(module, "autocast", None) is original:
            monkeypatch.setattr(module, "autocast", recording)
    return entered
