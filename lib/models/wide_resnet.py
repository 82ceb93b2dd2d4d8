"""Pre-activation Wide Residual Networks (Zagoruyko & Komodakis, BMVC 2016), the
architecture of every experiment in the paper (WRN-40-2 for §3.1, §3.2 and §4;
WRN-28-10 for §3.3).

Inputs are pixels in [0, 1]: per-channel normalization happens inside the
model (design.md §7), so attacks can work in pixel space. Dropout sits between
the two 3×3 convolutions of a block, as in the original WRN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.validation import check_range, check_type

# Per-channel statistics used for the in-model normalization. Any fixed affine
# map works for training; CIFAR's is the conventional choice for RGB and a
# neutral 0.5/0.25 for single-channel inputs.
RGB_MEAN, RGB_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
GRAY_MEAN, GRAY_STD = (0.5,), (0.25,)


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
    label set, see :meth:`replace_classifier`)."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int,
                 in_channels: int = 3, dropout: float = 0.0):
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
        mean, std = (RGB_MEAN, RGB_STD) if in_channels == 3 else (GRAY_MEAN, GRAY_STD)
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

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
                dropout: float = 0.0) -> WideResNet:
    """Build WRN-``depth``-``widen_factor`` (design.md §6)."""
    return WideResNet(depth, widen_factor, num_classes, in_channels, dropout)
