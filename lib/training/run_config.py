"""The typed description of one training run (design.md §3).

A :class:`RunConfig` holds everything that determines the trained weights; its
:meth:`RunConfig.key` hashes that (plus the engine version) into the run
cache's key. Human labels are not part of the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.data import get_dataset
from lib.data.base import ImageDataset
from lib.data.subsets import split_holdout, stratified_subset
from lib.models import ARCHITECTURES
from lib.presets import DataSpec, Recipe
from lib.registry import Registry
from lib.training.engine import ENGINE_VERSION
from lib.training.objectives import objective_names
from lib.validation import check_choice

# Training-set transforms by name (label corruption, class imbalance, …):
# ``transform(dataset, seed, **params) -> ImageDataset`` returning a view.
TRANSFORMS: Registry[Callable[..., ImageDataset]] = Registry(
    "transform", providers=("lib.noise", "lib.imbalance"))
register_transform = TRANSFORMS.register


def transform_names() -> list[str]:
    return sorted(TRANSFORMS)


@dataclass(frozen=True)
class TrainingDataSpec:
    """Which training examples a run sees: a dataset, a stratified subset of
    ``size``, minus a held-out ``holdout_fraction``, then ``transforms`` in order.
    ``split_seed`` draws the subset and the hold-out."""

    dataset: DataSpec
    size: int | None = None
    holdout_fraction: float = 0.0
    transforms: tuple = ()  # ((name, ((key, value), ...)), ...)
    split_seed: int = 0

    def with_transform(self, name: str, **params) -> "TrainingDataSpec":
        return TrainingDataSpec(self.dataset, self.size, self.holdout_fraction,
                                self.transforms + ((name, tuple(sorted(params.items()))),),
                                self.split_seed)

    def build(self, root=None) -> tuple[ImageDataset, ImageDataset | None]:
        """(training view, held-out view or ``None``)."""
        full = get_dataset(self.dataset.name, "train", root, **self.dataset.kwargs())
        subset = stratified_subset(full, self.size, self.split_seed)
        train, holdout = split_holdout(subset, self.holdout_fraction, self.split_seed + 1)
        for name, params in self.transforms:
            train = TRANSFORMS.get(name)(train, seed=self.split_seed, **dict(params))
        return train, holdout

    def to_dict(self) -> dict:
        return {"dataset": self.dataset.to_dict(), "size": self.size,
                "holdout_fraction": self.holdout_fraction,
                "transforms": [[n, dict(p)] for n, p in self.transforms],
                "split_seed": self.split_seed}


@dataclass(frozen=True)
class EvalDataSpec:
    """A test set: dataset, split and an optional stratified size."""

    dataset: DataSpec
    size: int | None = None
    split: str = "test"
    seed: int = 0

    def build(self, root=None) -> ImageDataset:
        full = get_dataset(self.dataset.name, self.split, root, **self.dataset.kwargs())
        return stratified_subset(full, self.size, self.seed)

    def to_dict(self) -> dict:
        return {"dataset": self.dataset.to_dict(), "size": self.size, "split": self.split,
                "seed": self.seed}


@dataclass(frozen=True)
class RunConfig:
    """One training run.

    ``init`` is the run whose weights start this one (fine-tuning: a new
    classifier replaces the old); ``None`` trains from scratch. ``track``
    evaluates this test set after every epoch (training curves, Figures 1 and 4).
    """

    architecture: str
    in_channels: int
    data: TrainingDataSpec
    recipe: Recipe
    seed: int = 0
    init: "RunConfig | None" = None
    objective: str = "cross_entropy"
    objective_params: tuple = ()
    track: EvalDataSpec | None = None
    label: str = field(default="", compare=False)

    def __post_init__(self):
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("objective", self.objective, objective_names())
        check_choice("in_channels", self.in_channels, (1, 3))

    def to_dict(self) -> dict:
        """Everything that determines the weights (the label excluded)."""
        return {
            "architecture": self.architecture, "in_channels": self.in_channels,
            "data": self.data.to_dict(), "recipe": self.recipe.to_dict(), "seed": self.seed,
            "init": None if self.init is None else self.init.key(),
            "objective": self.objective, "objective_params": dict(self.objective_params),
            "track": None if self.track is None else self.track.to_dict(),
            "engine_version": ENGINE_VERSION,
        }

    def key(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
