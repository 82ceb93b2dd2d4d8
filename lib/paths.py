"""Where the project's own files are: the repository and the run cache
(``RUNS_DIR``; :mod:`lib.storage` names it in its errors)."""

from __future__ import annotations

import os
from pathlib import Path

from lib.storage import declare

REPO = Path(__file__).resolve().parents[1]


def default_runs_dir() -> Path:
    """``$RUNS_DIR`` if set, else ``runs/`` at the repository root."""
    return Path(os.environ.get("RUNS_DIR", REPO / "runs")).expanduser()


declare("RUNS_DIR", default_runs_dir, "the run cache")
