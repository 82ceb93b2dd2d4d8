"""The dry run of a preset (issue 14, item 4): every code path, dataset,
architecture and method of the preset, with only epochs, dataset sizes and
seeds shrunk to seconds, so that a CPU can execute the whole paper preset on a
miniature data root (``python -m lib.data.miniature``) and a change that
breaks the paper path fails CI::

    make book PRESET=paper DRY_RUN=1 DATA_ROOT=DIR

Its numbers are meaningless; every page built this way says so in its opening
line (:meth:`lib.provenance.Provenance.summary`).

The rules, applied to the preset and, field by field, to every section's
settings (nested dataclasses included):

* a :class:`~lib.specs.Recipe` trains for :data:`DRY_EPOCHS` epoch(s), and so
  does every other ``*epochs`` count (Figure 1's long run, §4's Tiny ImageNet
  tuning);
* ``seeds`` keep their first seed;
* training and test sets are capped at :data:`DRY_SIZE` images
  (class-stratified, :func:`lib.data.subsets.stratified_subset`): the preset's
  ``train_size``/``test_size``/``track_size``, every ``*_size``/``*_samples`` field, and every
  training or test set (:class:`~lib.training.run_config.TrainingDataSpec`,
  ``EvalDataSpec``: a value with a :class:`~lib.specs.DataSpec` ``dataset`` and
  a ``size``); the source at :data:`DRY_SOURCE_SIZE`;
* a settings class may shrink what these rules cannot see with a
  ``dry_run_changes()`` method returning field → value: the imbalance sweep's
  class sizes (and a test set of one image per class), the adversarial page's
  WRN-28-10 data and its attacks' step, iteration and query counts (shortened
  as epochs are).

Grids (corruption strengths, imbalance ratios, attack budgets, OOD sets,
scores), architectures, datasets and every method stay as they are. Its runs
are ordinary runs, kept apart from real ones by their epochs and sizes and, in
:func:`lib.notebook.start`, by their own run cache and result store folders.
Standard library only (:func:`lib.presets.get_run_preset` applies it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from lib.specs import DataSpec, Recipe

DRY_EPOCHS = 1
DRY_SIZE = 16
DRY_SOURCE_SIZE = 128


def dry_run_preset(preset):
    """``preset`` shrunk by the rules above (``dry_run=True``; same name, so
    every section finds its settings)."""
    if preset.dry_run:
        return preset
    return replace(preset, dry_run=True, seeds=preset.seeds[:1],
                   train_size=_cap(preset.train_size), test_size=_cap(preset.test_size),
                   track_size=None if preset.track_size is None else _cap(preset.track_size),
                   source_size=_cap(preset.source_size, DRY_SOURCE_SIZE),
                   pretrain=_recipe(preset.pretrain), scratch=_recipe(preset.scratch),
                   finetune=_recipe(preset.finetune))


def dry_run_settings(settings):
    """A section's settings shrunk by the rules above (a frozen dataclass, or
    anything else, which is returned as it is)."""
    return _shrink(settings)


def settings_at(settings_by_preset: dict, preset):
    """A section's settings at ``preset`` (a :class:`~lib.presets.Preset`), dry-run shrunk when it is a dry run."""
    settings = settings_by_preset[preset.name]
    return dry_run_settings(settings) if getattr(preset, "dry_run", False) else settings


def _cap(size, cap: int = DRY_SIZE):
    return cap if size is None else min(size, cap)


def _recipe(recipe: Recipe) -> Recipe:
    return replace(recipe, epochs=min(recipe.epochs, DRY_EPOCHS))


def _is_data_set(value) -> bool:
    """A training or test set spec: a value with a :class:`DataSpec` ``dataset`` and a ``size``."""
    return isinstance(getattr(value, "dataset", None), DataSpec) and hasattr(value, "size")


def _shrink(value, name: str = ""):
    if isinstance(value, Recipe):
        return _recipe(value)
    if _is_data_set(value):
        return replace(value, size=_cap(value.size))
    if name == "seeds" and isinstance(value, tuple):
        return value[:1]
    if name.endswith("epochs") and isinstance(value, int) and not isinstance(value, bool):
        return min(value, DRY_EPOCHS)
    if (name.endswith("_size") or name.endswith("_samples")) and (
            value is None or (isinstance(value, int) and not isinstance(value, bool))):
        return _cap(value)
    if isinstance(value, tuple):
        return tuple(_shrink(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _shrink(getattr(value, f.name), f.name)
                   for f in dataclasses.fields(value) if f.init}
        shrunk = replace(value, **changes)
        extra = getattr(shrunk, "dry_run_changes", None)
        return replace(shrunk, **extra()) if extra else shrunk
    return value
