"""The in-memory dataset every loader returns (design.md §5).

A dataset is one uint8 image tensor (N×C×H×W) plus labels. Subsets, relabelled
copies (label corruption) and per-example weights are *views*: they share the
base image tensor and carry an index tensor, so nothing copies the pixels until
a batch is gathered on the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a dataset that the book's reproducing page reads."""

    name: str
    num_classes: int
    image_size: int | None
    channels: int | None
    source: str
    licence: str
    how_to_get: str = ""
    class_names: tuple[str, ...] = field(default=(), repr=False)


def _as_tensor(x, dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


class ImageDataset:
    """uint8 images N×C×H×W with int64 labels, as a (possibly indexed) view.

    Attributes
    ----------
    base_images : the shared uint8 tensor (never copied by ``subset``/``relabel``).
    indices : int64 tensor selecting rows of ``base_images`` (``None`` = all).
    labels : int64 tensor, one per example of *this view*.
    weights : optional float32 tensor, one per example of this view.
    num_classes, info : class count and dataset facts.
    """

    def __init__(self, images, labels, num_classes: int, info: DatasetInfo | None = None,
                 *, indices=None, weights=None, class_names=None):
        images = _as_tensor(images, torch.uint8)
        if images.ndim != 4:
            raise ValueError(f"images must be N×C×H×W, got shape {tuple(images.shape)}")
        self.base_images = images
        self.indices = None if indices is None else _as_tensor(indices, torch.int64)
        n = len(self.base_images) if self.indices is None else len(self.indices)
        self.labels = _as_tensor(labels, torch.int64)
        if len(self.labels) != n:
            raise ValueError(f"labels has {len(self.labels)} entries for {n} images")
        self.weights = None if weights is None else _as_tensor(weights, torch.float32)
        if self.weights is not None and len(self.weights) != n:
            raise ValueError(f"weights has {len(self.weights)} entries for {n} images")
        self.num_classes = int(num_classes)
        self.info = info
        self.class_names = tuple(class_names) if class_names is not None else (
            info.class_names if info is not None else ())

    # -- the design.md §6 interface -------------------------------------------------
    @property
    def images(self) -> torch.Tensor:
        """The view's images (materialized only when this view is a subset)."""
        if self.indices is None:
            return self.base_images
        return self.base_images[self.indices]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.base_images.shape[1:])

    def __repr__(self) -> str:
        name = self.info.name if self.info else "dataset"
        c, h, w = self.shape
        return f"ImageDataset({name}: {len(self)} images {c}×{h}×{w}, {self.num_classes} classes)"

    # -- views ----------------------------------------------------------------------
    def _row_indices(self) -> torch.Tensor:
        if self.indices is None:
            return torch.arange(len(self.base_images))
        return self.indices

    def subset(self, positions) -> "ImageDataset":
        """A view of the examples at ``positions`` (positions within this view)."""
        pos = _as_tensor(positions, torch.int64)
        return ImageDataset(
            self.base_images, self.labels[pos], self.num_classes, self.info,
            indices=self._row_indices()[pos],
            weights=None if self.weights is None else self.weights[pos],
            class_names=self.class_names,
        )

    def relabel(self, labels) -> "ImageDataset":
        """The same images with new labels (e.g. corrupted ones)."""
        return ImageDataset(self.base_images, labels, self.num_classes, self.info,
                            indices=self.indices, weights=self.weights,
                            class_names=self.class_names)

    def with_weights(self, weights) -> "ImageDataset":
        """The same examples with per-example loss weights."""
        return ImageDataset(self.base_images, self.labels, self.num_classes, self.info,
                            indices=self.indices, weights=weights,
                            class_names=self.class_names)

    def class_counts(self) -> np.ndarray:
        """Number of examples per class, as a length-``num_classes`` array."""
        return np.bincount(self.labels.numpy(), minlength=self.num_classes)
