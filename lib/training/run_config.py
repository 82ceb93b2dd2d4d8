"""The typed description of one training run (design.md §3).

A :class:`RunConfig` holds everything that determines the trained weights; its
:meth:`RunConfig.key` hashes that (plus the engine version) into the run
cache's key. Human labels are not part of the key. Two fields enter the key
only when set, so every key that existed before them is unchanged (issue 15):
the input normalization when it is not the default, and the released file an
imported run stands for; likewise the world size of a data-parallel run
(issue 16) and the training subset a validation set excludes (issue 17).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lib.data import get_dataset
from lib.data.base import ImageDataset
from lib.data.subsets import split_holdout, stratified_subset
from lib.models import ARCHITECTURES, Normalization
from lib.models.normalization import as_normalization, default_normalization
from lib.specs import DataSpec, Recipe
from lib.registry import Registry
from lib.training.engine import ENGINE_VERSION
from lib.training.objectives import objective_names
from lib.validation import check_choice, check_range, check_type

# Training-set transforms by name (label corruption, class imbalance, …):
# ``transform(dataset, seed, **params) -> ImageDataset`` returning a view.
TRANSFORMS: Registry[Callable[..., ImageDataset]] = Registry(
    "transform", providers=("lib.noise", "lib.imbalance"))
register_transform = TRANSFORMS.register


def transform_names() -> list[str]:
    return sorted(TRANSFORMS)


list_transforms = transform_names


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
    """A test set: dataset, split and an optional stratified size.

    ``excluding`` makes it a validation set (issue 17): images of the
    *training* split outside that training subset, which a run trained on it
    never sees (:meth:`validation`)."""

    dataset: DataSpec
    size: int | None = None
    split: str = "test"
    seed: int = 0
    excluding: TrainingDataSpec | None = None

    def __post_init__(self):
        if self.excluding is not None and (self.split != "train"
                                           or self.excluding.dataset != self.dataset):
            raise ValueError(f"a validation set excludes a training subset of the same "
                             f"dataset's train split; got split={self.split!r}, dataset "
                             f"{self.dataset.name!r} excluding {self.excluding.dataset.name!r}")

    @staticmethod
    def validation(training: TrainingDataSpec, size: int | None = None,
                   seed: int = 0) -> "EvalDataSpec":
        """A class-stratified sample of ``size`` (``None``: all) of the training
        split's images that ``training`` does not use (its hold-out included)."""
        return EvalDataSpec(training.dataset, size, "train", seed, excluding=training)

    def build(self, root=None) -> ImageDataset:
        full = get_dataset(self.dataset.name, self.split, root, **self.dataset.kwargs())
        if self.excluding is not None:
            full = full.subset(np.flatnonzero(~self._used(full, root)))
        return stratified_subset(full, self.size, self.seed)

    def _used(self, full: ImageDataset, root) -> np.ndarray:
        """Mask of the images of ``full`` that the excluded training set uses."""
        used = np.zeros(len(full), bool)
        for view in self.excluding.build(root):
            if view is None:
                continue
            if view.base_images is not full.base_images or full.indices is not None:
                raise ValueError(f"the training set of {self.dataset.name} is not a view of its "
                                 "training split (synthetic images?), so the images it uses "
                                 "cannot be held out of a validation set")
            used[view.indices.numpy() if view.indices is not None else slice(None)] = True
        if used.all():
            raise ValueError(f"the training set uses all {len(full)} training images of "
                             f"{self.dataset.name}: nothing is left to validate on")
        return used

    def to_dict(self) -> dict:
        out = {"dataset": self.dataset.to_dict(), "size": self.size, "split": self.split,
               "seed": self.seed}
        if self.excluding is not None:
            out["excluding"] = self.excluding.to_dict()
        return out


@dataclass(frozen=True)
class RunConfig:
    """One training run.

    ``init`` is the run whose weights start this one (fine-tuning: a new
    classifier replaces the old); ``None`` trains from scratch. ``track``
    evaluates this test set after every epoch (training curves, Figures 1 and 4).

    ``normalization`` (:mod:`lib.models.normalization`; ``None`` = the default
    for ``in_channels``) is the model's input normalization when it starts
    from scratch; a fine-tuned run inherits its parent's (it travels in the
    parent's weights) and leaves it ``None``. ``released`` names the released
    file (:data:`lib.releases.RELEASES`) whose imported weights this run is:
    such a run is imported by ``python -m lib.weights import``, never trained.
    ``world_size`` > 1 trains it data-parallel over that many processes
    (``torchrun``, :mod:`lib.training.distributed`), each with the recipe's
    ``batch_size`` (the per-rank batch): it enters the key, so a fine-tune
    finds its data-parallel parent, and such a run trains only in a process
    group of that size.
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
    normalization: Normalization | None = None
    released: str = ""
    world_size: int = 1
    cpu_autocast: bool = False

    def __post_init__(self):
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_type("world_size", self.world_size, int)
        check_type("cpu_autocast", self.cpu_autocast, bool)
        check_range("world_size", self.world_size, low=1)
        check_choice("objective", self.objective, objective_names())
        check_choice("in_channels", self.in_channels, (1, 3))
        if self.normalization is not None:
            norm = as_normalization(self.normalization, self.in_channels)
            if self.init is not None and norm != self.init.model_normalization:
                raise ValueError(
                    f"normalization={norm.to_dict()} differs from the parent run's "
                    f"{self.init.model_normalization.to_dict()}: a fine-tuned run inherits "
                    "its parent's normalization; leave normalization=None")
            # The default is stored as None, so it never enters the key.
            object.__setattr__(self, "normalization",
                               None if norm == default_normalization(self.in_channels) else norm)

    @property
    def model_normalization(self) -> Normalization:
        """The normalization of this run's model: its own, else its parent's,
        else the default for ``in_channels``."""
        if self.normalization is not None:
            return self.normalization
        if self.init is not None:
            return self.init.model_normalization
        return default_normalization(self.in_channels)

    def to_dict(self) -> dict:
        """Everything that determines the weights (the label excluded); a
        default normalization, an empty ``released``, a world size of 1 and
        ``cpu_autocast`` off are left out (the keys of runs from before these
        fields stand)."""
        out = {
            "architecture": self.architecture, "in_channels": self.in_channels,
            "data": self.data.to_dict(), "recipe": self.recipe.to_dict(), "seed": self.seed,
            "init": None if self.init is None else self.init.key(),
            "objective": self.objective, "objective_params": dict(self.objective_params),
            "track": None if self.track is None else self.track.to_dict(),
            "engine_version": ENGINE_VERSION,
        }
        if self.normalization is not None:
            out["normalization"] = self.normalization.to_dict()
        if self.released:
            out["released"] = self.released
        if self.world_size > 1:  # per-rank batch: recipe.batch_size
            out["world_size"] = self.world_size
        if self.cpu_autocast:
            out["cpu_autocast"] = True
        return out

    def key(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
