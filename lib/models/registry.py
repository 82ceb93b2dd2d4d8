"""Architectures by name: ``"wrn-40-2"`` → WRN-40-2, and so on (paper §3, §4:
the paper's WRN-40-2 and WRN-28-10, plus the small ones of the smoke and quick
presets). :data:`ARCHITECTURES` maps a name to its (depth, widen factor);
:func:`list_architectures` lists them."""

from __future__ import annotations

from lib.models.wide_resnet import WideResNet, wide_resnet
from lib.registry import Registry

ARCHITECTURES: Registry[tuple[int, int]] = Registry("architecture")
register_architecture = ARCHITECTURES.add  # register_architecture(name, (depth, widen factor))
list_architectures = ARCHITECTURES.names
architecture_names = list_architectures

for _name, _depth_width in (("wrn-10-1", (10, 1)), ("wrn-16-1", (16, 1)), ("wrn-16-2", (16, 2)),
                            ("wrn-40-2", (40, 2)), ("wrn-28-10", (28, 10))):
    register_architecture(_name, _depth_width)


def build_model(name: str, num_classes: int, in_channels: int = 3,
                dropout: float = 0.0, normalization=None) -> WideResNet:
    """Build the registered architecture ``name`` (``normalization``: ``None``
    for the default, see :mod:`lib.models.normalization`)."""
    depth, width = ARCHITECTURES.get(name)
    return wide_resnet(depth, width, num_classes, in_channels=in_channels, dropout=dropout,
                       normalization=normalization)
