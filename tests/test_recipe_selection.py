"""Recipe and source selection on validation data (issue 17, item 1).

The validation set is held out of the training split and never overlaps the
run's training images; no selection reads a target's test split (checked by
making any such read fail); the tie rule is the one ``lib.selection`` states;
and the quick recipes of §3.1 and §3.2 are the rows the recorded selection
(``benchmarks/select_section_recipes.py``) chose, so the pages' claim that
both arms were tuned on one grid stays true when either side changes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.data import registry
from lib.presets import DataSpec, get_preset
from lib.sections import adversarial, imbalance, label_noise
from lib.selection import (SourceCandidate, candidate_signals, mark_chosen,
                           section_recipe_selection, source_selection)
from lib.training import EvalDataSpec, TrainingDataSpec

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks/results"
CSV = RESULTS / "quick_section_recipes.csv"


def base_positions(view) -> set:
    return set(view.indices.tolist())


def test_validation_is_held_out_of_the_training_split_and_disjoint_from_the_run():
    training = TrainingDataSpec(DataSpec.of("fashion_mnist"), size=1000, split_seed=3)
    train, _ = training.build()
    spec = EvalDataSpec.validation(training, 500)
    validation = spec.build()
    assert spec.split == "train" and len(validation) == 500
    assert not base_positions(train) & base_positions(validation)
    assert np.bincount(validation.labels.numpy()).tolist() == [50] * 10  # stratified
    assert spec.to_dict()["excluding"] == training.to_dict()  # memo keys tell them apart
    imbalanced = TrainingDataSpec(DataSpec.of("fashion_mnist")).with_transform(
        "power_law_imbalance", gamma=0.2, largest=50, smallest=5)  # drawn from the whole split
    train, _ = imbalanced.build()
    assert not base_positions(train) & base_positions(EvalDataSpec.validation(imbalanced).build())
    with pytest.raises(ValueError, match="uses all 60000 training images"):
        EvalDataSpec.validation(TrainingDataSpec(DataSpec.of("fashion_mnist"))).build()


def test_the_tie_rule_prefers_the_smaller_rate():
    table = pd.DataFrame({"arm": ["a", "a", "a", "b"], "lr": [0.1, 0.01, 0.05, 0.1],
                          "batch_size": [32] * 4, "validation_error": [10.0, 10.08, 12.0, 9.0]})
    assert mark_chosen(table, ["arm"], ["lr", "batch_size"]).tolist() == [False, True, False, True]
    table.loc[1, "validation_error"] = 10.2  # outside the tie: the lowest error wins
    assert mark_chosen(table, ["arm"], ["lr", "batch_size"]).tolist() == [True, False, False, True]


@pytest.fixture
def no_test_split(monkeypatch):
    """Any read of Fashion-MNIST's test split fails (the smoke and quick target)."""
    original = registry._BUILDERS.get

    def guarded(name):
        builder = original(name)
        if name != "fashion_mnist":
            return builder

        def build(split="train", **options):
            if split == "test":
                raise AssertionError("a selection read the test split of fashion_mnist")
            return builder(split=split, **options)
        return build

    monkeypatch.setattr(registry._BUILDERS, "get", guarded)
    with pytest.raises(AssertionError, match="read the test split"):  # the guard works
        registry.get_dataset("fashion_mnist", "test")


def test_no_selection_reads_the_test_split(no_test_split, tmp_path):
    smoke = get_preset("smoke")
    options = dict(smoke.source.options)
    source = SourceCandidate(options["num_classes"], options["per_class"])
    kwargs = dict(device="cpu", runs_dir=tmp_path, size=200, echo=lambda row: None)
    table = source_selection(smoke, [source], scratch_recipes=[smoke.scratch],
                             finetune_lrs=(0.01, 0.05), **kwargs)
    assert table.arm.tolist() == ["scratch", "pretrained", "pretrained"]
    assert (table.validation_n == 200).all() and table.groupby("arm").chosen.sum().eq(1).all()
    recipes = section_recipe_selection(smoke, batch_sizes=(32,), lr_scales=(1.0, 0.25),
                                       adversarial_lr_scales=(1.0, 0.5), adversarial_size=100,
                                       **kwargs)
    assert len(recipes) == 8 + 6 and recipes.groupby(["section", "arm"]).chosen.sum().eq(1).all()
    robust = recipes[recipes.section.str.startswith("adversarial")]
    assert robust.arm.tolist() == ["adversarial"] * 2 + ["adversarial_pretrained"] * 2 + \
        ["last_layer"] * 2 and (robust.validation_n == 100).all()
    signals = candidate_signals(smoke, table, [source], scratch_recipes=[smoke.scratch],
                                **kwargs)  # the five signals: validation data only, too
    assert signals.arm.tolist() == ["scratch", "pretrained"]
    tuned = table[(table.arm == "pretrained") & table.chosen].iloc[0]  # one source: its best
    assert signals.validation_error.iloc[1] == pytest.approx(tuned.validation_error)
    for column in ("ood_auroc_msp", "rms_calibration_error", "noise_error", "imbalance_error",
                   "pgd_accuracy"):
        assert signals[column].between(0, 100).all(), column


@pytest.mark.parametrize("section,arm,recipe", [
    ("label_noise", "scratch", label_noise.settings_for("quick").scratch),
    ("label_noise", "pretrained", label_noise.settings_for("quick").finetune),
    ("label_noise", "pretrained", label_noise.settings_for("quick").finetune_corrected),
    ("class_imbalance", "scratch", imbalance.settings_for("quick").scratch),
    ("class_imbalance", "pretrained", imbalance.settings_for("quick").pretraining),
    ("adversarial", "adversarial", adversarial.SECTION.settings_for("quick").scratch),
    ("adversarial", "adversarial_pretrained", adversarial.SECTION.settings_for("quick").finetune),
    ("adversarial", "last_layer", adversarial.SECTION.settings_for("quick").last_layer),
])
def test_quick_recipe_is_the_recorded_choice(section, arm, recipe):
    table = pd.read_csv(CSV)
    assert "test_error" not in table and "validation_error" in table  # chosen on validation
    chosen = table[table.section.str.startswith(section) & (table.arm == arm) & table.chosen]
    assert len(chosen) == 1, chosen
    row = chosen.iloc[0]
    assert (recipe.epochs, recipe.batch_size) == (row.epochs, row.batch_size)
    assert recipe.lr == pytest.approx(row.lr)
    grid = table[table.section.str.startswith(section) & (table.arm == arm)]
    assert mark_chosen(grid, ["arm"], ["lr", "batch_size"])[row.name]


def test_quick_preset_recipes_are_the_recorded_source_selection():
    quick = get_preset("quick")
    table = pd.read_csv(RESULTS / "quick_source_selection.csv")
    assert "test_error" not in table and "validation_error" in table
    chosen = table[table.chosen].set_index("arm")
    scratch, tuned = chosen.loc["scratch"], chosen.loc["pretrained"]
    assert (quick.scratch.epochs, quick.scratch.dropout) == (scratch.epochs, scratch.dropout)
    assert quick.scratch.lr == pytest.approx(scratch.lr)
    assert quick.finetune.lr == pytest.approx(tuned.lr)
    options = dict(quick.source.options)  # the shipped source is the chosen candidate
    shipped = SourceCandidate(options["num_classes"], options["per_class"], quick.pretrain.epochs)
    assert tuned.source == shipped.label(quick)


def test_a_tie_in_the_source_selection_goes_to_the_cheaper_recipe():
    table = pd.DataFrame(dict(arm=["pretrained"] * 3, epochs=[30, 10, 20], lr=[0.01, 0.05, 0.01],
                              batch_size=[128] * 3, validation_error=[12.0, 12.08, 12.5]))
    chosen = mark_chosen(table, ["arm"], ["epochs", "lr", "batch_size"])
    assert chosen.tolist() == [False, True, False]  # 12.08 ties 12.0; 10 epochs cost least
    table.loc[1, "validation_error"] = 12.2  # no longer a tie: the lowest error wins
    assert mark_chosen(table, ["arm"], ["epochs", "lr", "batch_size"]).tolist() == [
        True, False, False]


def test_longer_fine_tuning_is_searched_at_the_longer_rates_only(tmp_path):
    smoke = get_preset("smoke")
    options = dict(smoke.source.options)
    source = SourceCandidate(options["num_classes"], options["per_class"])
    longer = smoke.finetune.epochs + 1
    table = source_selection(smoke, [source], scratch_recipes=[smoke.scratch],
                             finetune_lrs=(0.01, 0.05), finetune_epochs=(longer,),
                             longer_lrs=(0.05,), device="cpu", runs_dir=tmp_path, size=100,
                             echo=lambda row: None)
    tuned = table[table.arm == "pretrained"]
    assert list(zip(tuned.epochs, tuned.lr)) == [(smoke.finetune.epochs, 0.01),
                                                 (smoke.finetune.epochs, 0.05), (longer, 0.05)]
    assert tuned.chosen.sum() == 1
