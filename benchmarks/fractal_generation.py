"""Fractal generation speed (issue: Data, item 3): images/s of
``lib.data.fractal.generate`` at 28×28 (1 and 3 channels), for all 1,000
classes of FractalDB-1k at a few instances each, extrapolated to the full
1,000 × 1,000 set. Writes ``benchmarks/results/fractal_generation.md``.

    python benchmarks/fractal_generation.py [--per-class 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

import torch

from lib.data.fractal import generate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for channels in (1, 3):
        start = time.perf_counter()
        images, _ = generate("train", num_classes=1000, per_class=args.per_class, size=28,
                             channels=channels, seed=0)
        seconds = time.perf_counter() - start
        rate = len(images) / seconds
        rows.append(f"| 1000 × {args.per_class} | {channels} | {len(images):,} | {seconds:.1f} s | "
                    f"{rate:,.0f} | {1_000_000 / rate / 60:.1f} min |")
    text = (f"# Fractal generation speed\n\nMeasured {dt.datetime.now().isoformat(timespec='seconds')} "
            f"on {os.cpu_count()} CPU cores ({torch.get_num_threads()} torch threads; the generator "
            "is numpy, single-threaded), 28×28, including the class search.\n\n"
            "| classes × per class | channels | images | time | images/s | 1,000 × 1,000 would take |\n"
            "|---|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fractal_generation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
