"""Choose the quick preset's batch size and learning rate for the label-noise
(§3.1) and class-imbalance (§3.2) sections by measurement, the same way for
both arms, so that neither arm is compared in an untrained state.

The quick training sets are small (1,000 images for §3.1; 346 images at
γ = 0.2 for §3.2), so at the paper's batch size of 128 an epoch is only a few
SGD steps and the from-scratch arm stops far from convergence. For each arm the
grid below is trained on the clean (§3.1, s = 0, no correction) or γ = 0.2
(§3.2, Normal Training and Pre-Training) training set with the section's
epochs; the recipe with the lowest test error is the section's quick recipe
(``lib/sections/label_noise.py``, ``lib/sections/imbalance.py``). Every run
goes through the run cache. Writes
``benchmarks/results/quick_section_recipes.csv`` (shown on both pages).

    python benchmarks/select_section_recipes.py
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from lib.atomic_io import atomic_write_bytes
from lib.devices import describe_device, resolve_device
from lib.experiments import target_test_data
from lib.presets import get_preset
from lib.provenance import git_commit, utc_now
from lib.sections import imbalance, label_noise
from lib.training import train_or_load

OUT = Path(__file__).resolve().parent / "results" / "quick_section_recipes.csv"
BATCH_SIZES = (128, 32)
LR_SCALES = (1.0, 0.25)  # × the quick preset's own rate for the arm (not the section's choice)


def _grid(recipe, preset_recipe):
    return [replace(recipe, batch_size=b, lr=preset_recipe.lr * s)
            for b in BATCH_SIZES for s in LR_SCALES]


CLEAN_CELL = dict(target="fashion_mnist", seed=0, corruption=0.0)  # §3.1: s = 0, seed 0


def label_noise_rows(preset, root, device) -> list[dict]:
    base = label_noise.SECTION.settings_for(preset)
    rows = []
    for arm, recipe, own in (("scratch", base.scratch, preset.scratch),
                             ("pretrained", base.finetune, preset.finetune)):
        for candidate in _grid(recipe, own):
            settings = replace(base, scratch=candidate, finetune=candidate,
                               finetune_corrected=candidate)
            study = label_noise.Study(preset, settings, root=root, device=device,
                                      train=partial(train_or_load, root=root, device=device))
            run = label_noise.METHODS["no_correction"].train(study, arm, CLEAN_CELL)
            error = study.test_error(run, CLEAN_CELL["target"])["error"]
            rows.append(_row("label_noise (s = 0)", arm, candidate, error, run))
    return rows


def imbalance_rows(preset, root, device) -> list[dict]:
    base = imbalance.SECTION.settings_for(preset)
    test = target_test_data(preset, "fashion_mnist")
    sizes = base.class_sizes("fashion_mnist", 0.2)
    rows = []
    for method, recipe, own in (("normal", base.scratch, preset.scratch),
                                ("pretraining", base.pretraining, preset.finetune)):
        arm = imbalance.METHODS[method].arms[0]
        for candidate in _grid(recipe, own):
            settings = replace(base, scratch=candidate, pretraining=candidate)
            run = train_or_load(imbalance.build_run(method, preset, settings, "fashion_mnist",
                                                    0.2, 0, arm), root=root, device=device)
            errors = imbalance.evaluate_run(run, test, sizes, device, root=root)
            rows.append(_row("class_imbalance (γ = 0.2)", arm, candidate, errors["error"], run))
    return rows


def _row(section, arm, recipe, test_error, run) -> dict:
    row = dict(section=section, arm=arm, epochs=recipe.epochs, batch_size=recipe.batch_size,
               lr=recipe.lr, final_train_error=round(100 * (1 - run.history[-1]["accuracy"]), 2),
               test_error=round(float(test_error), 2), train_minutes=round(run.wall_time_s / 60, 2))
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    preset = get_preset("quick")
    table = pd.DataFrame(label_noise_rows(preset, args.data_root, device)
                         + imbalance_rows(preset, args.data_root, device))
    best = table.groupby(["section", "arm"])["test_error"].transform("min")
    table["chosen"] = np.isclose(table["test_error"], best)
    table["device"], table["commit"], table["date"] = describe_device(device), git_commit(), utc_now()
    atomic_write_bytes(OUT, table.to_csv(index=False).encode())
    print(table.to_string(index=False))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
