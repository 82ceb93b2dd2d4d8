"""Choose the quick preset's pre-training source and fine-tuning recipe by
measurement (issue: quick pre-trained checkpoint).

For each candidate source (fractal classes × images per class) it pre-trains
the quick architecture, fine-tunes on the quick Fashion-MNIST subset at
several learning rates, and compares the clean test error with training from
scratch. Every run goes through the run cache, so re-running only evaluates.
Writes ``benchmarks/results/quick_source_selection.csv`` (read by notebook 00).

    python benchmarks/select_quick_source.py
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from lib.devices import describe_device, resolve_device
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.presets import DataSpec, get_preset
from lib.provenance import git_commit, utc_now
from lib.training import error_and_nll, predict_logits, train_or_load
from lib.training.checkpoints import atomic_write_bytes

OUT = Path(__file__).resolve().parent / "results" / "quick_source_selection.csv"
SOURCES = [(1000, 50), (100, 200)]  # (classes, images per class): 50k and 20k images
FINETUNE_LRS = [0.01, 0.05, 0.1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    preset = get_preset("quick")
    test = target_test_data(preset).build(args.data_root)

    def test_error(run) -> float:
        return 100 * error_and_nll(predict_logits(run.model, test, device), test.labels)[0]

    scratch = train_or_load(scratch_run(preset), root=args.data_root, device=device)
    scratch_error = test_error(scratch)
    rows = []
    for classes, per_class in SOURCES:
        source_spec = DataSpec.of("fractal", **{**dict(preset.source.options),
                                                 "num_classes": classes, "per_class": per_class})
        source_config = source_run(preset, source=source_spec)
        source = train_or_load(source_config, root=args.data_root, device=device)
        for lr in FINETUNE_LRS:
            recipe = replace(preset.finetune, lr=lr)
            tuned = train_or_load(finetune_run(preset, recipe=recipe, source=source_config),
                                  root=args.data_root, device=device)
            error = test_error(tuned)
            rows.append(dict(source_classes=classes, images_per_class=per_class,
                             pretrain_epochs=source_config.recipe.epochs,
                             source_test_error=round(100 * source.history[-1]["test_error"], 2),
                             finetune_epochs=recipe.epochs, finetune_lr=lr,
                             finetuned_error=round(error, 2),
                             scratch_error=round(scratch_error, 2),
                             gap_points=round(error - scratch_error, 2),
                             pretrain_minutes=round(source.wall_time_s / 60, 1)))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["device"], table["commit"], table["date"] = describe_device(device), git_commit(), utc_now()
    atomic_write_bytes(OUT, table.to_csv(index=False).encode())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
