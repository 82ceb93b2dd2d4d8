"""Choose the quick preset's from-scratch recipe, fine-tuning rate and source
on validation data (issue 17; the rules: :mod:`lib.selection`).

Trains the quick architecture on the quick Fashion-MNIST subset from scratch
with each recipe of ``lib.selection.SCRATCH_RECIPES``, pre-trains each
candidate fractal source and fine-tunes it at each rate of ``FINETUNE_LRS``;
every run goes through the run cache, so a re-run only evaluates. Each run is
scored on 2,000 Fashion-MNIST training images outside its training subset; the
test split is never read. Writes ``benchmarks/results/quick_source_selection.csv``
(shown on the pre-training page).

    python benchmarks/select_quick_source.py [--sources 1000x50 1000x100 1000x50@30]
    python benchmarks/select_quick_source.py --finetune-epochs 10 20 30 --out quick_source_search.csv
    python benchmarks/select_quick_source.py --signals

``--finetune-epochs`` adds the issue-25 lengths (``lib.selection.FINETUNE_EPOCHS``)
at ``LONGER_FINETUNE_LRS``; ``--out`` names the table under ``benchmarks/results/``
(the recorded choice the preset follows is ``quick_source_selection.csv``).

(default: ``lib.selection.SOURCE_CANDIDATES``, the candidates fixed before measuring).
``--signals`` reads the recorded selection and measures, on validation data, the
five signals nothing was chosen by (``lib.selection.candidate_signals``: OOD,
calibration, label noise, imbalance, PGD) for the chosen from-scratch recipe and
each candidate at its best rate; writes ``benchmarks/results/quick_source_signals.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from lib.atomic_io import atomic_write_bytes
from lib.devices import describe_device, resolve_device
from lib.presets import get_preset
from lib.provenance import git_commit, utc_now
from lib.selection import SOURCE_CANDIDATES, SourceCandidate, candidate_signals, source_selection

OUT = Path(__file__).resolve().parent / "results" / "quick_source_selection.csv"
SIGNALS = OUT.with_name("quick_source_signals.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sources", nargs="+", default=list(SOURCE_CANDIDATES),
                        help="fractal sources as CLASSESxPER_CLASS[@EPOCHS]")
    parser.add_argument("--finetune-epochs", nargs="+", type=int, default=[],
                        help="fine-tuning lengths beyond the preset's (issue 25), e.g. 10 20 30")
    parser.add_argument("--out", default=OUT.name,
                        help=f"the table's file name under benchmarks/results/ ({OUT.name})")
    parser.add_argument("--signals", action="store_true",
                        help=f"measure the five signals of the recorded selection ({OUT.name})")
    args = parser.parse_args()
    device = resolve_device(args.device)
    sources = [SourceCandidate.parse(s) for s in args.sources]
    if args.signals:
        if not OUT.is_file():
            raise SystemExit(f"--signals reads the recorded selection {OUT}: run this script "
                             "without --signals first")
        table, out = candidate_signals(get_preset("quick"), pd.read_csv(OUT), sources,
                                       root=args.data_root, device=device), SIGNALS
    else:
        table = source_selection(get_preset("quick"), sources, root=args.data_root,
                                 device=device, finetune_epochs=args.finetune_epochs)
        out = OUT.with_name(args.out)
    table["device"], table["commit"], table["date"] = describe_device(device), git_commit(), utc_now()
    atomic_write_bytes(out, table.to_csv(index=False).encode())
    print(table.drop(columns=["device", "commit", "date"]).to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
