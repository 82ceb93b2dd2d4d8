"""Choose the quick preset's recipes by measurement (issue: quick pre-trained
checkpoint): the from-scratch recipe must be trained to convergence and the
fine-tuned arm must land within 1.5 points of it, as in the paper's setting.

It trains the quick architecture on the quick Fashion-MNIST subset from
scratch with several recipes, pre-trains on each candidate fractal source, and
fine-tunes at several learning rates; every run goes through the run cache, so
a re-run only evaluates. Writes ``benchmarks/results/quick_source_selection.csv``
(read by notebook 00).

    python benchmarks/select_quick_source.py [--sources 1000x50 100x200]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lib.atomic_io import atomic_write_bytes
from lib.devices import describe_device, resolve_device
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.presets import DataSpec, Recipe, get_preset
from lib.provenance import git_commit, utc_now
from lib.training import error_and_nll, predict_logits, train_or_load

OUT = Path(__file__).resolve().parent / "results" / "quick_source_selection.csv"
SCRATCH_RECIPES = [Recipe(epochs=15, lr=0.1, dropout=0.3), Recipe(epochs=30, lr=0.05),
                   Recipe(epochs=30, lr=0.05, dropout=0.1)]
FINETUNE_LRS = [0.01, 0.05, 0.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sources", nargs="+", default=["1000x50"],
                        help="fractal sources as CLASSESxPER_CLASS")
    args = parser.parse_args()
    device = resolve_device(args.device)
    preset = get_preset("quick")
    test = target_test_data(preset).build(args.data_root)
    rows = []

    def record(arm, run, source="", source_error=None):
        error = 100 * error_and_nll(predict_logits(run.model, test, device), test.labels)[0]
        r = run.config.recipe
        rows.append(dict(arm=arm, source=source, source_test_error=source_error,
                         epochs=r.epochs, lr=r.lr, dropout=r.dropout,
                         final_train_error=round(100 * (1 - run.history[-1]["accuracy"]), 2),
                         test_error=round(error, 2), train_minutes=round(run.wall_time_s / 60, 1)))
        print(rows[-1], flush=True)

    for recipe in SCRATCH_RECIPES:
        record("scratch", train_or_load(scratch_run(preset, recipe=recipe), root=args.data_root,
                                        device=device))
    for source_name in args.sources:
        classes, per_class = (int(v) for v in source_name.split("x"))
        spec = DataSpec.of("fractal", **{**dict(preset.source.options),
                                         "num_classes": classes, "per_class": per_class})
        source_config = source_run(preset, source=spec)
        source = train_or_load(source_config, root=args.data_root, device=device)
        source_error = round(100 * source.history[-1]["test_error"], 2)
        for lr in FINETUNE_LRS:
            tuned = train_or_load(finetune_run(preset, recipe=replace(preset.finetune, lr=lr),
                                               source=source_config),
                                  root=args.data_root, device=device)
            record("pretrained", tuned, f"fractal {classes}×{per_class}", source_error)
    table = pd.DataFrame(rows)
    table["device"], table["commit"], table["date"] = describe_device(device), git_commit(), utc_now()
    atomic_write_bytes(OUT, table.to_csv(index=False).encode())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
