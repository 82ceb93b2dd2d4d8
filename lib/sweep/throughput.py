"""Recorded training throughput, from which the plan estimates device-hours
(issue 16, item 1). ``benchmarks/sweep_throughput.py`` writes one file per
device kind, ``benchmarks/results/sweep_throughput_<device>.json``::

    {"device": "cpu", "hardware": "...", "date": "...", "torch": "...",
     "entries": [{"architecture": "wrn-40-2", "in_channels": 3, "image_size": 32,
                  "batch_size": 128, "images_per_s": 61.0}, ...]}

An estimate uses the entry of the run's (architecture, channels, image size)
whose batch size is nearest the run's; a workload never measured on a device
has no estimate there (shown as such, never guessed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PREFIX = "sweep_throughput_"


@dataclass(frozen=True)
class ThroughputTable:
    device: str  # "cpu", "cuda", …
    hardware: str
    entries: tuple  # dicts as in the module docstring

    def images_per_s(self, workload: tuple, batch_size: int) -> float | None:
        """Training images per second for ``workload`` (architecture, channels,
        image size) at the recorded batch size nearest ``batch_size``."""
        matches = [e for e in self.entries
                   if (e["architecture"], e["in_channels"], e["image_size"]) == tuple(workload)]
        if not matches:
            return None
        best = min(matches, key=lambda e: (abs(e["batch_size"] - batch_size), -e["batch_size"]))
        return float(best["images_per_s"])


def path_for(device: str, results: Path | None = None) -> Path:
    return Path(results or RESULTS) / f"{PREFIX}{device}.json"


def load_tables(results: Path | None = None) -> list[ThroughputTable]:
    """Every recorded table, CPU first."""
    tables = []
    for path in sorted(Path(results or RESULTS).glob(f"{PREFIX}*.json")):
        data = json.loads(path.read_text())
        tables.append(ThroughputTable(data["device"], data.get("hardware", ""),
                                      tuple(data["entries"])))
    return sorted(tables, key=lambda t: t.device != "cpu")
