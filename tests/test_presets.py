"""Presets and notebook parameter validation."""

import subprocess
import sys

import pytest

from lib import notebook
from lib.devices import resolve_device
from lib.presets import PRESETS, Recipe, get_preset, preset_names
from lib.sections import get_section, section_names


def test_three_presets():
    assert preset_names() == ["smoke", "quick", "paper"]


def test_paper_preset_carries_the_papers_recipes():
    paper = get_preset("paper")
    assert paper.architecture == "wrn-40-2"
    assert (paper.scratch.epochs, paper.scratch.lr, paper.scratch.dropout) == (100, 0.1, 0.3)
    assert (paper.finetune.epochs, paper.finetune.lr, paper.finetune.dropout) == (10, 0.001, 0.0)
    for recipe, batch in ((paper.scratch, 128), (paper.finetune, 128), (paper.pretrain, 256)):
        # the official downsampled_train/baseline.py pre-trains at batch 256
        assert (recipe.batch_size, recipe.momentum, recipe.weight_decay, recipe.nesterov) == (
            batch, 0.9, 5e-4, True)
    assert len(paper.seeds) == 5


def test_quick_tracks_a_quarter_of_its_test_set_and_bad_track_sizes_are_named():
    from dataclasses import replace

    from lib.experiments import finetune_run, scratch_run, target_test_data

    quick = get_preset("quick")
    assert scratch_run(quick, track=True).track.size == finetune_run(quick, track=True).track.size \
        == 500 and target_test_data(quick).size == 2000  # the claims use the whole test set
    assert scratch_run(get_preset("smoke"), track=True).track.size == 500  # None: the test set
    for bad in (0, 2001, 1.5, True):
        with pytest.raises(ValueError, match=rf"track_size={bad!r} is not valid.*1 to the test"):
            replace(quick, track_size=bad)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_consistent(name):
    preset = get_preset(name)
    assert preset.name == name
    assert preset.target in preset.targets
    assert preset.in_channels in (1, 3)


@pytest.mark.parametrize("section", section_names())
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_section_has_settings_for_every_preset(section, name):
    """Every preset × every section: the section declares its settings there
    (through ``per_preset``), and they describe themselves deterministically."""
    chosen = get_section(section)
    settings = chosen.settings_for(name)
    assert settings is chosen.settings_for(get_preset(name))
    assert isinstance(settings.describe(), str) and settings.describe() == settings.describe()


def test_section4_settings_are_not_on_the_preset():
    """§4's targets, OOD sets and sources live in the OOD and calibration
    settings (lib.sections.ood / calibration), not on ``Preset``."""
    for name in ("ood_sets", "ood_samples", "uncertainty_targets", "target_sources",
                 "target_finetune_epochs", "source_for", "finetune_for"):
        assert not hasattr(PRESETS["paper"], name)


def test_unknown_preset_names_valid_choices():
    with pytest.raises(ValueError, match=r"preset='huge'.*'smoke', 'quick', 'paper'"):
        get_preset("huge")


def test_preset_check_runs_without_installed_packages():
    """The Makefile validates PRESET with the system Python before installing anything."""
    result = subprocess.run([sys.executable, "-S", "-m", "lib.presets", "check", "huge"],
                            capture_output=True, text=True, cwd=notebook.__file__.rsplit("/lib/", 1)[0])
    assert result.returncode == 2
    assert "smoke" in result.stderr and "paper" in result.stderr


def test_recipe_validates_tune():
    with pytest.raises(ValueError, match="tune='some'"):
        Recipe(epochs=1, lr=0.1, tune="some")


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(preset="huge"), ValueError, "preset='huge'"),
    (dict(preset=3), TypeError, "preset=3"),
    (dict(preset="smoke", device="tpu"), ValueError, "device='tpu'"),
    (dict(preset="smoke", data_root=5), TypeError, "data_root=5"),
])
def test_notebook_parameters_are_validated(kwargs, error, message):
    with pytest.raises(error, match=message):
        notebook.start("ood", **kwargs)


def test_cuda_without_gpu_is_a_clear_error():
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        resolve_device("cuda")
