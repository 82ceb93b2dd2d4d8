"""Fixtures shared by the tests that execute whole sections at the smoke preset
(tests/test_contracts.py, tests/test_stale_rows.py)."""

from __future__ import annotations

import os
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
