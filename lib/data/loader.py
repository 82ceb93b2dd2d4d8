"""The on-device batch loader (design.md §5).

The whole uint8 base image tensor of a dataset goes to the device once (shared
by every loader over the same base tensor and device); per batch the loader
gathers the view's rows, applies the standard CIFAR augmentation (random crop
with zero padding 4, random horizontal flip; He et al. 2016, Zagoruyko &
Komodakis 2016) vectorised on the device, and converts to float32 in [0, 1].

Order and augmentation come from a CPU ``torch.Generator`` seeded by
(seed, epoch), so a run is reproducible and identical across devices.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
import torch

from lib.data.base import ImageDataset
from lib.validation import check_range, check_type

PAD = 4

# (id(base tensor), device) -> (weakref to the base tensor, tensor on the device)
_DEVICE_IMAGES: dict[tuple[int, str], tuple[weakref.ref, torch.Tensor]] = {}


def device_images(base: torch.Tensor, device) -> torch.Tensor:
    """``base`` on ``device``, copied at most once per (base tensor, device).

    On the CPU the base tensor itself is returned (no copy)."""
    device = torch.device(device)
    if base.device == device:
        return base
    key = (id(base), str(device))
    hit = _DEVICE_IMAGES.get(key)
    if hit is not None and hit[0]() is base:
        return hit[1]
    moved = base.to(device, non_blocking=False)
    _DEVICE_IMAGES[key] = (weakref.ref(base, lambda _ref, k=key: _DEVICE_IMAGES.pop(k, None)),
                           moved)
    return moved


class Batch(NamedTuple):
    """One batch: ``x`` float32 B×C×H×W in [0, 1]; ``y`` int64 labels; ``weight``
    float32 per-example weights or ``None``; ``index`` int64 positions within the view."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None
    index: torch.Tensor


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU generator seeded by (seed, epoch, stream) through numpy's SeedSequence
    (stream 0: the order, 1: the augmentation)."""
    key = [int(seed), int(epoch), int(stream)]
    state = np.random.SeedSequence(key).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) >> 1)


def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor,
              pad: int = PAD) -> torch.Tensor:
    """Random crop with zero padding ``pad`` and horizontal flip, for a whole batch.

    ``x`` is B×C×H×W (any dtype); ``dy``/``dx`` are the crop offsets in
    [0, 2·pad] (``pad`` = no shift); ``flip`` a bool per image. Implemented as
    two gathers from the zero-padded batch (no per-image loops)."""
    B, C, H, W = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = dy[:, None] + torch.arange(H, device=x.device)  # B×H
    cols = torch.arange(W, device=x.device).expand(B, W)
    cols = torch.where(flip[:, None], W - 1 - cols, cols) + dx[:, None]  # B×W
    rows = rows[:, None, :, None].expand(B, C, H, W + 2 * pad)
    out = padded.gather(2, rows)
    return out.gather(3, cols[:, None, None, :].expand(B, C, H, W))


class DeviceLoader:
    """Batches of an :class:`ImageDataset` view, produced on ``device``.

    ``len(loader)`` is the number of batches; call :meth:`set_epoch` before each
    epoch for a new (deterministic) order and augmentation.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int = 128, *, shuffle: bool = True,
                 augment: bool = False, device="cpu", seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False):
        check_type("dataset", dataset, ImageDataset)
        check_type("batch_size", batch_size, int)
        check_range("batch_size", batch_size, 1, None)
        check_type("seed", seed, int)
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.augment, self.drop_last = shuffle, augment, drop_last
        self.channels_last, self.seed, self.epoch = channels_last, seed, 0
        self.device = torch.device(device)
        self.images = device_images(dataset.base_images, self.device)
        rows = dataset.indices if dataset.indices is not None else None
        self.rows = None if rows is None else rows.to(self.device)
        self.labels = dataset.labels.to(self.device)
        self.weights = None if dataset.weights is None else dataset.weights.to(self.device)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor:
        """Positions (within the view) in this epoch's order, on the CPU."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=epoch_generator(self.seed, self.epoch))

    def __iter__(self):
        n = len(self.dataset)
        order = self.order()
        if self.augment:  # drawn for the whole epoch at once, from the same generator
            g = epoch_generator(self.seed, self.epoch, stream=1)
            shifts = torch.randint(0, 2 * PAD + 1, (n, 2), generator=g)
            flips = torch.rand(n, generator=g) < 0.5
            shifts, flips = shifts.to(self.device), flips.to(self.device)
        order = order.to(self.device)
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            pos = order[start:min(start + self.batch_size, stop)]
            rows = pos if self.rows is None else self.rows[pos]
            x = self.images.index_select(0, rows)
            if self.augment:
                sl = slice(start, start + len(pos))
                x = crop_flip(x, shifts[sl, 0], shifts[sl, 1], flips[sl])
            x = x.float().div_(255.0)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield Batch(x, self.labels[pos],
                        None if self.weights is None else self.weights[pos], pos)
