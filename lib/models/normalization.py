"""The per-channel normalization a model applies to pixels in [0, 1]
(design.md §7), part of the model's identity (issue 15, item 2).

``x ↦ (x − mean) / std``. Every model trained here uses
:func:`default_normalization` (CIFAR's statistics for RGB, a neutral
0.5/0.25 for one channel); the authors' released networks use
:data:`OFFICIAL_NORMALIZATION`, (x − 0.5) / 0.5 (official
``downsampled_train/baseline.py`` and ``uncertainty/CIFAR/tune.py``:
``trn.Normalize([0.5] * 3, [0.5] * 3)``; the adversarial scripts: ``x * 2 - 1``).
A normalization other than the default enters the run key, the checkpoint
payload and the evaluation memo key, so two models that differ only in it
never share a cache entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RGB_MEAN, RGB_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
GRAY_MEAN, GRAY_STD = (0.5,), (0.25,)


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean`` and ``std`` (tuples of floats, one per input channel)."""

    mean: tuple
    std: tuple

    def __post_init__(self):
        mean, std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)
        if len(mean) != len(std) or len(mean) not in (1, 3):
            raise ValueError(f"normalization mean={mean!r}, std={std!r}: need one value per "
                             "channel (1 or 3), the same number for both")
        if any(s <= 0 for s in std):
            raise ValueError(f"normalization std={std!r}: every value must be positive")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as float32 tensors of shape 1×C×1×1."""
        return (torch.tensor(self.mean).view(1, -1, 1, 1),
                torch.tensor(self.std).view(1, -1, 1, 1))

    @staticmethod
    def from_tensors(mean: torch.Tensor, std: torch.Tensor) -> "Normalization":
        """The normalization stored in a state_dict (tensors of C values);
        the channel's default when the float32 values equal it."""
        found = Normalization(tuple(mean.flatten().tolist()), tuple(std.flatten().tolist()))
        default = default_normalization(found.channels)
        d_mean, d_std = default.tensors()
        if torch.equal(mean.flatten().float().cpu(), d_mean.flatten()) and \
                torch.equal(std.flatten().float().cpu(), d_std.flatten()):
            return default
        return found


CIFAR_NORMALIZATION = Normalization(RGB_MEAN, RGB_STD)
GRAY_NORMALIZATION = Normalization(GRAY_MEAN, GRAY_STD)
OFFICIAL_NORMALIZATION = Normalization((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def default_normalization(in_channels: int) -> Normalization:
    """The normalization of every model trained here with ``in_channels`` channels."""
    return CIFAR_NORMALIZATION if in_channels == 3 else GRAY_NORMALIZATION


def as_normalization(value, in_channels: int) -> Normalization:
    """``value`` (``None`` = the default, a :class:`Normalization`, or a
    ``(mean, std)`` pair) as a :class:`Normalization` for ``in_channels``
    channels; a channel count that does not match fails naming both."""
    if value is None:
        return default_normalization(in_channels)
    norm = value if isinstance(value, Normalization) else Normalization(*value)
    if norm.channels != in_channels:
        raise ValueError(f"normalization {norm.to_dict()} has {norm.channels} channel(s); "
                         f"the model has in_channels={in_channels}")
    return norm
