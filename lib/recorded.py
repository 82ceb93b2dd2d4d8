"""Recorded measurements that pages show beside their own rows: the recipe
and source selections that ``benchmarks/`` scripts measured and committed
under ``benchmarks/results`` (design.md §7, Selection)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

BENCHMARK_RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def recorded_selection(csv_name: str, script: str, section: str | None = None):
    """A recorded recipe selection from ``benchmarks/results`` (the rows of
    ``section`` when given), printing where and at which commit it was
    measured; ``None``, saying which ``script`` records it, when absent."""
    path = BENCHMARK_RESULTS / csv_name
    if not path.is_file():
        print(f"no recorded selection: run python {script}")
        return None
    table = pd.read_csv(path)
    if section is not None:
        table = table[table.section.str.startswith(section)]
    print(f"measured on {table.device.iloc[0]} at commit {table.commit.iloc[0]}")
    return table.drop(columns=["device", "commit", "date"])


def recorded_section_recipes(section: str):
    """The rows of ``section`` (a prefix of the ``section`` column) in the recorded
    choice of the quick section recipes (``benchmarks/select_section_recipes.py``),
    or a sentence saying none is recorded in this checkout."""
    table = recorded_selection("quick_section_recipes.csv",
                               "benchmarks/select_section_recipes.py", section)
    return table if table is not None else "No recipe selection is recorded in this checkout."
