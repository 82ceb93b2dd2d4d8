"""Provenance of a result: code commit, hardware, date and wall time (design.md §3)."""

from __future__ import annotations

import datetime as _dt
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def git_commit(short: bool = True) -> str:
    """The checked-out commit, with ``-dirty`` when tracked files changed;
    ``"unknown"`` outside a git checkout."""
    try:
        args = ["git", "-C", str(_REPO), "rev-parse"] + (["--short"] if short else []) + ["HEAD"]
        commit = subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


DRY_RUN_BANNER = ("**DRY RUN: every number on this page is meaningless.** It checks that the "
                  "code of this preset runs end to end (lib.dry_run: 1 epoch, a few dozen "
                  "images, one seed; make book DRY_RUN=1). · ")


@dataclass
class Provenance:
    """Started when a notebook begins; :meth:`summary` gives the page header."""

    preset: str
    device: str
    commit: str = field(default_factory=git_commit)
    date: str = field(default_factory=utc_now)
    started: float = field(default_factory=time.perf_counter)
    dry_run: bool = False

    def wall_time_s(self) -> float:
        return time.perf_counter() - self.started

    def summary(self) -> str:
        """The page's opening line; a dry run's opens with its warning."""
        minutes, seconds = divmod(self.wall_time_s(), 60)
        return (DRY_RUN_BANNER * self.dry_run
                + f"preset **{self.preset}** · device {self.device} · commit `{self.commit}` · "
                f"{self.date} · wall time {int(minutes)} min {seconds:.0f} s")
