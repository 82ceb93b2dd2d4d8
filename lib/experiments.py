"""The standard runs of every section, built from a preset: the source model
(pre-training), a target model trained from scratch, and one fine-tuned from
the source (paper §3 and §4). Sections derive their variants from these.
"""

from __future__ import annotations

from dataclasses import replace

from lib.presets import SOURCE_TRACK_SIZE, Preset
from lib.releases import source_for
from lib.specs import DataSpec, Recipe
from lib.training.run_config import EvalDataSpec, RunConfig, TrainingDataSpec


def source_track_size(preset: Preset, cap: int | None = None) -> int:
    """The source test images tracked every epoch: :data:`SOURCE_TRACK_SIZE`,
    fewer for a source capped by the preset or by ``cap`` (a dry run)."""
    return min(SOURCE_TRACK_SIZE, preset.source_size or SOURCE_TRACK_SIZE,
               cap or SOURCE_TRACK_SIZE)


def target_train_data(preset: Preset, dataset: str | None = None) -> TrainingDataSpec:
    """The target training set of ``preset`` (class-stratified ``train_size``
    subset, without its ``target_holdout``)."""
    return TrainingDataSpec(DataSpec.of(dataset or preset.target), size=preset.train_size,
                            holdout_fraction=preset.target_holdout)


def target_test_data(preset: Preset, dataset: str | None = None) -> EvalDataSpec:
    """The target test set of ``preset`` (class-stratified ``test_size`` subset)."""
    return EvalDataSpec(DataSpec.of(dataset or preset.target), size=preset.test_size)


def target_track_data(preset: Preset, dataset: str | None = None) -> EvalDataSpec:
    """The test images a tracked target run evaluates after every epoch: the
    preset's ``track_size`` (class-stratified), else its whole test set."""
    return EvalDataSpec(DataSpec.of(dataset or preset.target),
                        size=preset.track_size or preset.test_size)


def tracked_count(config: RunConfig, test_count: int) -> int:
    """How many test images ``config``'s per-epoch curve was measured on: its
    tracked set's size, else ``test_count`` (the whole test set)."""
    return (config.track.size if config.track is not None else None) or test_count


def source_run(preset: Preset, seed: int = 0, source: DataSpec | None = None,
               recipe: Recipe | None = None) -> RunConfig:
    """Pre-training on the source (paper: Downsampled ImageNet, 100 epochs),
    tracking the source test error every epoch; the released network instead
    at ``SOURCE=official`` (:func:`released_source`)."""
    source = source or preset.source
    config = RunConfig(
        architecture=preset.architecture, in_channels=preset.in_channels,
        data=TrainingDataSpec(source, size=preset.source_size),
        recipe=recipe or preset.pretrain, seed=seed,
        track=EvalDataSpec(source, size=source_track_size(preset), split="test"),
        label=f"pretrain[{preset.name}:{source.name}]", world_size=preset.source_world_size)
    return released_source(config, preset)


def released_source(config: RunConfig, preset: Preset) -> RunConfig:
    """``config``, or the paper's released network that stands for it when the
    preset's source models are the official ones (``SOURCE=official``)."""
    if preset.source_weights == "trained":
        return config
    return source_for(config, preset.source_weights)


def scratch_run(preset: Preset, seed: int = 0, data: TrainingDataSpec | None = None,
                recipe: Recipe | None = None, track: bool = False, target: str | None = None,
                **changes) -> RunConfig:
    """Training from scratch on the target (paper: 100 epochs, lr 0.1, dropout 0.3),
    under bf16 autocast on the CPU when the preset says so (``cpu_autocast``)."""
    target = target or preset.target
    config = RunConfig(
        architecture=preset.architecture, in_channels=preset.in_channels,
        data=data or target_train_data(preset, target), recipe=recipe or preset.scratch,
        seed=seed, track=target_track_data(preset, target) if track else None,
        label=f"scratch[{preset.name}:{target}:seed{seed}]", cpu_autocast=preset.cpu_autocast)
    return replace(config, **changes) if changes else config


def finetune_run(preset: Preset, seed: int = 0, data: TrainingDataSpec | None = None,
                 recipe: Recipe | None = None, source: RunConfig | None = None,
                 track: bool = False, target: str | None = None, **changes) -> RunConfig:
    """Fine-tuning the source model on the target with a new classifier
    (paper: 10 epochs at lr 0.001 without dropout). ``source`` defaults to the
    preset's source run, ``recipe`` to its fine-tuning recipe; §4's Tiny
    ImageNet passes its own (:class:`lib.sections.ood.UncertaintyTarget`)."""
    target = target or preset.target
    config = RunConfig(
        architecture=preset.architecture, in_channels=preset.in_channels,
        data=data or target_train_data(preset, target),
        recipe=recipe or preset.finetune, seed=seed,
        init=source or source_run(preset),
        track=target_track_data(preset, target) if track else None,
        label=f"finetune[{preset.name}:{target}:seed{seed}]", cpu_autocast=preset.cpu_autocast)
    return replace(config, **changes) if changes else config
