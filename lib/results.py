"""The tidy result store: one row per run × metric (design.md §3).

Rows are appended to one CSV per preset (``<results dir>/<preset>.csv``);
a row with the same identity (section, dataset, method, arm, strength, seed,
metric) replaces the older one. Writes are atomic. The book reads the store
with pandas and shows no number that is not in it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from lib.atomic_io import atomic_write_bytes
from lib.presets import get_preset

_REPO = Path(__file__).resolve().parent.parent

COLUMNS = ["section", "dataset", "method", "arm", "strength", "seed", "metric", "detail",
           "value", "preset", "device", "commit", "wall_time_s", "run_key"]
# ``detail`` qualifies a metric where one run yields several (e.g. the OOD set).
IDENTITY = ["section", "dataset", "method", "arm", "strength", "seed", "metric", "detail"]


def _canonical(value) -> str:
    """One spelling per identity value, whether it came from a dict or a CSV
    (``None``/NaN → ``""``, ``0``/``0.0``/``"0"`` → ``"0"``)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def default_results_dir() -> Path:
    """``$RESULTS_DIR`` if set, else ``results/`` at the repository root."""
    return Path(os.environ.get("RESULTS_DIR", _REPO / "results")).expanduser()


def store_path(preset: str, results_dir=None) -> Path:
    get_preset(preset)
    return Path(results_dir or default_results_dir()) / f"{preset}.csv"


def read_results(preset: str, results_dir=None) -> pd.DataFrame:
    """Every stored row for ``preset`` (an empty frame with the columns if none)."""
    path = store_path(preset, results_dir)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def record_results(rows: list[dict], preset: str, results_dir=None) -> pd.DataFrame:
    """Append ``rows`` (dicts with at least the identity columns and ``value``),
    replacing older rows with the same identity; returns the new rows."""
    new = pd.DataFrame(rows)
    missing = [c for c in ("section", "dataset", "method", "arm", "metric", "value")
               if c not in new.columns]
    if missing:
        raise ValueError(f"result rows lack the columns {missing}; required: {IDENTITY + ['value']}")
    new["preset"] = preset
    for column in COLUMNS:
        if column not in new.columns:
            new[column] = pd.NA
    new = new[COLUMNS]
    old = read_results(preset, results_dir)
    # object columns: an all-missing column (e.g. no strength) keeps its meaning
    combined = (pd.concat([old.astype(object), new.astype(object)], ignore_index=True)
                if len(old) else new)
    key = combined[IDENTITY].map(_canonical).agg("|".join, axis=1)
    combined = combined[~key.duplicated(keep="last")]
    buffer = io.StringIO()
    combined.to_csv(buffer, index=False)
    atomic_write_bytes(store_path(preset, results_dir), buffer.getvalue().encode())
    return new
