"""Models: pre-activation Wide ResNets and the architecture registry."""

from lib.models.registry import ARCHITECTURES, architecture_names, build_model
from lib.models.wide_resnet import WideResNet, wide_resnet

__all__ = ["ARCHITECTURES", "WideResNet", "architecture_names", "build_model", "wide_resnet"]
