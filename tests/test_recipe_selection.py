"""The quick recipes of §3.1 and §3.2 are the rows the recorded selection
(``benchmarks/select_section_recipes.py``) chose, so the pages' claim that
both arms were tuned on one grid stays true when either side changes."""

from pathlib import Path

import pandas as pd
import pytest

from lib.sections import imbalance, label_noise

CSV = Path(__file__).resolve().parents[1] / "benchmarks/results/quick_section_recipes.csv"


@pytest.mark.parametrize("section,arm,recipe", [
    ("label_noise", "scratch", label_noise.settings_for("quick").scratch),
    ("label_noise", "pretrained", label_noise.settings_for("quick").finetune),
    ("label_noise", "pretrained", label_noise.settings_for("quick").finetune_corrected),
    ("class_imbalance", "scratch", imbalance.settings_for("quick").scratch),
    ("class_imbalance", "pretrained", imbalance.settings_for("quick").pretraining),
])
def test_quick_recipe_is_the_recorded_choice(section, arm, recipe):
    table = pd.read_csv(CSV)
    chosen = table[table.section.str.startswith(section) & (table.arm == arm) & table.chosen]
    assert len(chosen) == 1, chosen
    row = chosen.iloc[0]
    assert (recipe.epochs, recipe.batch_size) == (row.epochs, row.batch_size)
    assert recipe.lr == pytest.approx(row.lr)
    grid = table[table.section.str.startswith(section) & (table.arm == arm)]
    assert row.test_error == grid.test_error.min()
