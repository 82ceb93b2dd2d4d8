"""Pre-activation Wide Residual Networks (Zagoruyko & Komodakis, BMVC 2016), the
architecture of every experiment in the paper (WRN-40-2 for §3.1, §3.2 and §4;
WRN-28-10 for §3.3).

Inputs are pixels in [0, 1]: per-channel normalization happens inside the
model (design.md §7), so attacks can work in pixel space. The normalization
(:mod:`lib.models.normalization`) is part of the model's identity: a model
whose normalization is not the default carries it in its ``state_dict``
(``pixel_mean``, ``pixel_std``), so checkpoints and fine-tuned children keep
it; a default model's ``state_dict`` is what it always was. Dropout sits
between the two 3×3 convolutions of a block, as in the original WRN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.models.normalization import (
    GRAY_MEAN,
    GRAY_STD,
    RGB_MEAN,
    RGB_STD,
    Normalization,
    as_normalization,
    default_normalization,
)
from lib.validation import check_range, check_type

__all__ = ["GRAY_MEAN", "GRAY_STD", "RGB_MEAN", "RGB_STD", "WideResNet", "wide_resnet"]
_NORMALIZATION_KEYS = ("pixel_mean", "pixel_std")


class _BasicBlock(nn.Module):
    """BN-ReLU-conv3×3-(dropout)-BN-ReLU-conv3×3 with an identity or 1×1 shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.equal_in_out = in_planes == out_planes and stride == 1
        self.shortcut = None if self.equal_in_out else nn.Conv2d(
            in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        # The projection shortcut sees the pre-activated input, as in the WRN paper.
        residual = x if self.equal_in_out else self.shortcut(out)
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return residual + self.conv2(out)


class WideResNet(nn.Module):
    """WRN-depth-k. ``features(x)`` gives the pooled penultimate features;
    ``classifier`` is the final ``nn.Linear`` (replace it to fine-tune on a new
    label set, see :meth:`replace_classifier`). ``normalization``: ``None``
    (the default for ``in_channels``), a :class:`Normalization` or a
    ``(mean, std)`` pair."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int,
                 in_channels: int = 3, dropout: float = 0.0, normalization=None):
        super().__init__()
        check_type("depth", depth, int)
        check_type("widen_factor", widen_factor, int)
        check_type("num_classes", num_classes, int)
        check_type("in_channels", in_channels, int)
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth={depth!r} is not valid; WRN depth must be 6n+4 "
                             "with n >= 1 (e.g. 10, 16, 22, 28, 40)")
        check_range("widen_factor", widen_factor, 1)
        check_range("num_classes", num_classes, 1)
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels={in_channels!r} is not valid; choose one of: 1, 3")
        check_range("dropout", dropout, 0.0, 1.0)
        self.depth, self.widen_factor, self.dropout = depth, widen_factor, float(dropout)
        self.in_channels = in_channels
        self.normalization = as_normalization(normalization, in_channels)
        mean, std = self.normalization.tensors()
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

        blocks_per_group = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        groups = []
        for g, stride in enumerate((1, 2, 2)):
            layers = [_BasicBlock(widths[g] if i == 0 else widths[g + 1], widths[g + 1],
                                  stride if i == 0 else 1, self.dropout)
                      for i in range(blocks_per_group)]
            groups.append(nn.Sequential(*layers))
        self.block1, self.block2, self.block3 = groups
        self.bn = nn.BatchNorm2d(widths[3])
        self.num_features = widths[3]
        self.classifier = nn.Linear(widths[3], num_classes)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    @property
    def default_normalization(self) -> bool:
        """Whether the model normalizes as every model trained here does."""
        return self.normalization == default_normalization(self.in_channels)

    def set_normalization(self, normalization) -> None:
        """Normalize inputs by ``normalization`` from now on (see the class)."""
        self.normalization = as_normalization(normalization, self.in_channels)
        mean, std = self.normalization.tensors()
        with torch.no_grad():
            self.pixel_mean.copy_(mean)
            self.pixel_std.copy_(std)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if not self.default_normalization:  # default models keep their old state_dict
            for name in _NORMALIZATION_KEYS:
                tensor = getattr(self, name)
                destination[prefix + name] = tensor if keep_vars else tensor.detach()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """A state_dict without ``pixel_mean``/``pixel_std`` was saved by a
        default model: loading it restores the default normalization."""
        found = [state_dict.get(prefix + name) for name in _NORMALIZATION_KEYS]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        for name in _NORMALIZATION_KEYS:
            if prefix + name in unexpected_keys:
                unexpected_keys.remove(prefix + name)
        if (found[0] is None) != (found[1] is None):
            error_msgs.append(f"{prefix}pixel_mean and {prefix}pixel_std must both be present "
                              "or both absent")
        elif found[0] is None:
            self.set_normalization(None)
        else:
            try:
                self.set_normalization(Normalization.from_tensors(*found))
            except ValueError as error:
                error_msgs.append(f"{prefix}pixel_mean/pixel_std: {error}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features of pixels ``x`` in [0, 1] (N×C×H×W)."""
        x = (x - self.pixel_mean) / self.pixel_std
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn(out))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def replace_classifier(self, num_classes: int) -> nn.Linear:
        """Swap in a freshly initialised classifier for ``num_classes`` classes."""
        check_range("num_classes", num_classes, 1)
        device = self.classifier.weight.device
        self.classifier = nn.Linear(self.num_features, num_classes).to(device)
        nn.init.zeros_(self.classifier.bias)
        return self.classifier

    def set_dropout(self, dropout: float) -> None:
        """Change the dropout rate of every block (fine-tuning uses none)."""
        check_range("dropout", dropout, 0.0, 1.0)
        self.dropout = float(dropout)
        for m in self.modules():
            if isinstance(m, _BasicBlock):
                m.dropout = self.dropout


def wide_resnet(depth: int, widen_factor: int, num_classes: int, in_channels: int = 3,
                dropout: float = 0.0, normalization=None) -> WideResNet:
    """Build WRN-``depth``-``widen_factor`` (design.md §6)."""
    return WideResNet(depth, widen_factor, num_classes, in_channels, dropout, normalization)
