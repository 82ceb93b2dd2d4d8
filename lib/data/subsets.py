"""Reproducible subsets of a dataset, as views (no image copies)."""

from __future__ import annotations

import numpy as np

from lib.data.base import ImageDataset
from lib.validation import check_range


def stratified_positions(labels, size: int, seed: int) -> np.ndarray:
    """Positions of a class-stratified random subset of ``size`` examples.

    Each class keeps ``size * n_c / N`` examples (largest remainders get the
    leftovers), drawn by ``seed``; the result is sorted.
    """
    labels = np.asarray(labels)
    n = len(labels)
    check_range("size", size, 1, n)
    classes, counts = np.unique(labels, return_counts=True)
    quota = size * counts / n
    take = np.floor(quota).astype(int)
    leftovers = size - take.sum()
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:leftovers]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def stratified_subset(dataset: ImageDataset, size: int | None, seed: int) -> ImageDataset:
    """A class-stratified subset view of ``size`` examples (all when ``None`` or ≥ N)."""
    if size is None or size >= len(dataset):
        return dataset
    return dataset.subset(stratified_positions(dataset.labels.numpy(), size, seed))


def split_holdout(dataset: ImageDataset, fraction: float, seed: int):
    """Split off a stratified held-out ``fraction`` (paper §4.2 tunes the
    temperature on 10% of the training data that the model never trains on).

    Returns ``(train_view, holdout_view)``; ``holdout_view`` is ``None`` when
    ``fraction`` is 0.
    """
    check_range("holdout_fraction", fraction, 0.0, 0.5)
    if fraction == 0:
        return dataset, None
    size = max(1, int(round(fraction * len(dataset))))
    held = stratified_positions(dataset.labels.numpy(), size, seed)
    mask = np.ones(len(dataset), bool)
    mask[held] = False
    return dataset.subset(np.flatnonzero(mask)), dataset.subset(held)
