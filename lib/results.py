"""The tidy result store: one row per run × metric (design.md §3).

A row names what was measured with **typed axis columns** (:data:`AXES`: the
corruption strength, the imbalance ratio, the OOD set, …), never an
overloaded free-text field, and carries its ``unit`` (:data:`UNITS`). Every
row also carries the ``build`` that produced it: one execution of a section
(:func:`new_build_id`). A page shows only the rows its own execution returned
(:meth:`lib.notebook.Session.run`).

What the store keeps, one CSV per preset (``<results dir>/<preset>.csv``, the
folder ``$RESULTS_DIR``), for downloads and later analysis: the **latest value
of every measurement**. A measurement is a row's identity, every column of
:data:`IDENTITY` (section, dataset, arm, method, seed, the axes, metric). A
later build's row replaces an earlier build's row for the same measurement;
a measurement no later build repeated keeps its earlier row (and that row's
``build``). So the store is not a history of builds: an older build's value
of a measurement that was measured again is gone. :func:`read_results` reads
the stored rows, of one build when asked.

Writes take an exclusive lock on ``<preset>.csv.lock`` (``fcntl.flock``), so
concurrent writers (notebooks, sweep workers) lose no row; the file itself is
replaced atomically, so a reader never sees half of it. A full disk, a
read-only or forbidden folder fails naming the file and ``RESULTS_DIR``
(:mod:`lib.storage`).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from lib.atomic_io import atomic_write_bytes
from lib.presets import get_preset
from lib.storage import declare, explained
from lib.validation import check_choice

_REPO = Path(__file__).resolve().parent.parent

# Axis columns: what a row's value is a function of, beyond dataset, arm,
# method and seed. Each has one type; a row leaves the axes it lacks empty.
AXES: dict[str, type] = {
    "source": str,          # the pre-training source variant ("" = the preset's)
    "epoch": int,           # training curves: the metric after this epoch (Figures 1 and 4)
    "corruption": float,    # label corruption strength s (§3.1)
    "gamma": float,         # imbalance ratio γ (§3.2)
    "eps": float,           # attack budget ε, pixels in [0, 1] (§3.3)
    "steps": int,           # attack steps (§3.3)
    "eval_set": str,        # which evaluated images: "test", "pgd", "autoattack", "source test", …
    "class_index": int,     # per-class metrics (Figure 3)
    "ood_set": str,         # the out-of-distribution set (§4.1)
    "score": str,           # the anomaly score: "msp", "energy", "max_logit" (§4.1)
    "calibration": str,     # "raw" or "temperature" (§4.2)
    "bin": int,             # an adaptive calibration bin (reliability diagrams)
}

# Units a value may have. Errors and accuracies are stored in percent.
UNITS = ("%", "percentage points", "%·s", "nats", "ratio", "temperature", "images", "epochs")

IDENTITY = ["section", "dataset", "arm", "method", "seed", *AXES, "metric"]
PROVENANCE = ["build", "preset", "unit", "n", "device", "commit", "wall_time_s", "run_key"]
COLUMNS = [*IDENTITY, "value", *PROVENANCE]
REQUIRED = ("section", "dataset", "arm", "method", "metric", "value", "unit")
# Columns read back as text whatever they look like (a build id or commit of
# digits only, "0012…", must not become a number).
_TEXT = ["section", "dataset", "arm", "method", *(a for a, k in AXES.items() if k is str),
         "metric", "build", "preset", "unit", "device", "commit", "run_key"]


def new_build_id() -> str:
    """A fresh identifier for one execution of a section."""
    return uuid.uuid4().hex[:12]


def _canonical(value) -> str:
    """One spelling per identity value, whether it came from a dict or a CSV
    (``None``/NaN → ``""``, ``0``/``0.0``/``"0"`` → ``"0"``)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def tidy(rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """``rows`` as a frame with exactly :data:`COLUMNS`, typed axes, and every
    row checked: the required columns present, a known unit, no unknown column
    (an overloaded free-text field fails here, naming it)."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    unknown = sorted(set(frame.columns) - set(COLUMNS))
    if unknown:
        raise ValueError(f"result rows have unknown columns {unknown}; valid: {COLUMNS}")
    missing = [c for c in REQUIRED if c not in frame.columns or frame[c].isna().any()]
    if missing:
        raise ValueError(f"result rows lack values for {missing}; required: {list(REQUIRED)}")
    for unit in frame["unit"].unique():
        check_choice("unit", unit, UNITS)
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column of :data:`COLUMNS` (absent ones empty) and
    the axes, seed and value of their types; an axis value of the wrong type
    fails naming the axis."""
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
    for axis, kind in AXES.items():
        values = frame[axis]
        if kind is str:
            frame[axis] = values.map(lambda v: "" if v is None or (not isinstance(v, str)
                                                                   and pd.isna(v)) else str(v))
            continue
        try:
            frame[axis] = pd.to_numeric(values, errors="raise").astype(
                "Int64" if kind is int else "Float64")
        except (TypeError, ValueError) as error:
            raise ValueError(f"result rows: axis {axis!r} must hold {kind.__name__} values, "
                             f"got {values.dropna().unique().tolist()[:5]} ({error})") from None
    frame["seed"] = pd.to_numeric(frame["seed"]).astype("Int64")
    frame["value"] = pd.to_numeric(frame["value"]).astype(float)
    return frame[COLUMNS].reset_index(drop=True)


def default_results_dir() -> Path:
    """``$RESULTS_DIR`` if set, else ``results/`` at the repository root."""
    return Path(os.environ.get("RESULTS_DIR", _REPO / "results")).expanduser()


declare("RESULTS_DIR", default_results_dir, "the result store")


def store_path(preset: str, results_dir=None) -> Path:
    get_preset(preset)
    return Path(results_dir or default_results_dir()) / f"{preset}.csv"


@contextlib.contextmanager
def _locked(path: Path):
    with explained(str(path) + ".lock", "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(str(path) + ".lock", "a")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        return tidy([])
    with explained(path, "read"):
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dict.fromkeys(
            _TEXT, str))
    return _typed(frame[[c for c in frame.columns if c in COLUMNS]].copy())


def read_results(preset: str, results_dir=None, build: str | None = None) -> pd.DataFrame:
    """The stored rows of ``preset`` (of one ``build`` when given); an empty
    frame with :data:`COLUMNS` if none."""
    frame = _read(store_path(preset, results_dir))
    if build is not None:
        frame = frame[frame["build"].astype(str) == str(build)]
    return frame.reset_index(drop=True)


def record_results(rows, preset: str, results_dir=None) -> pd.DataFrame:
    """Add ``rows`` to the store of ``preset`` under its lock, replacing older
    rows with the same identity; returns the tidy new rows."""
    new = tidy(rows)
    new["preset"] = preset
    path = store_path(preset, results_dir)
    with _locked(path):
        old = _read(path)
        combined = (pd.concat([old.astype(object), new.astype(object)], ignore_index=True)
                    if len(old) else new)
        key = combined[IDENTITY].map(_canonical).agg("|".join, axis=1)
        combined = combined[~key.duplicated(keep="last")]
        buffer = io.StringIO()
        combined.to_csv(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue().encode())
    return new
