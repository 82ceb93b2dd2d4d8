"""Architectures by name: ``"wrn-40-2"`` → WRN-40-2, and so on."""

from __future__ import annotations

from lib.models.wide_resnet import WideResNet, wide_resnet
from lib.validation import check_choice

# The paper's networks plus the small ones used by the smoke and quick presets.
ARCHITECTURES = {
    "wrn-10-1": (10, 1),
    "wrn-16-1": (16, 1),
    "wrn-16-2": (16, 2),
    "wrn-40-2": (40, 2),
    "wrn-28-10": (28, 10),
}


def architecture_names() -> list[str]:
    return list(ARCHITECTURES)


def build_model(name: str, num_classes: int, in_channels: int = 3,
                dropout: float = 0.0, normalization=None) -> WideResNet:
    """Build the registered architecture ``name`` (``normalization``: ``None``
    for the default, see :mod:`lib.models.normalization`)."""
    check_choice("architecture", name, ARCHITECTURES)
    depth, width = ARCHITECTURES[name]
    return wide_resnet(depth, width, num_classes, in_channels=in_channels, dropout=dropout,
                       normalization=normalization)
