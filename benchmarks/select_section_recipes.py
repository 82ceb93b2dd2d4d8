"""Choose the quick preset's batch size and learning rate for the label-noise
(§3.1) and class-imbalance (§3.2) sections, and the learning rate of each
adversarially trained row of §3.3, on validation data, the same way for both
arms, so that neither arm is compared in an untrained state (issue 17; the
rules: :mod:`lib.selection`).

The quick training sets are small (1,000 images for §3.1; 346 images at
γ = 0.2 for §3.2), so at the paper's batch size of 128 an epoch is only a few
SGD steps and the from-scratch arm stops far from convergence. For each arm the
grid (batch 128 or 32, the preset's rate or a quarter of it) is trained on the
clean (§3.1, s = 0, no correction) or γ = 0.2 (§3.2, Normal Training and
Pre-Training) training set with the section's epochs, and scored on 2,000
Fashion-MNIST training images outside that set; the test split is never read.
For §3.3, adversarial training from scratch, adversarial tuning and last-layer
tuning each train at 2, 1 and ¼ times their rate (batch 128, their epochs) and
are scored by PGD-20 error at the section's ε on 1,000 such images. The chosen
rows are the sections' quick recipes (``lib/sections/label_noise/settings.py``,
``lib/sections/imbalance/settings.py``, ``lib/sections/adversarial/settings.py``;
``tests/test_recipe_selection.py`` checks that they agree). Writes
``benchmarks/results/quick_section_recipes.csv`` (shown on the three pages).

    python benchmarks/select_section_recipes.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lib.atomic_io import atomic_write_bytes
from lib.devices import describe_device, resolve_device
from lib.presets import get_preset
from lib.provenance import git_commit, utc_now
from lib.selection import section_recipe_selection

OUT = Path(__file__).resolve().parent / "results" / "quick_section_recipes.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    table = section_recipe_selection(get_preset("quick"), root=args.data_root, device=device)
    table["device"], table["commit"], table["date"] = describe_device(device), git_commit(), utc_now()
    atomic_write_bytes(OUT, table.to_csv(index=False).encode())
    print(table.drop(columns=["device", "commit", "date"]).to_string(index=False))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
