"""Models: pre-activation Wide ResNets, the architecture registry, the
in-model normalization and the loader of the authors' released networks."""

from lib.models.normalization import (
    OFFICIAL_NORMALIZATION,
    Normalization,
    default_normalization,
)
from lib.models.official import OfficialCheckpointError, load_official_wrn
from lib.models.registry import (ARCHITECTURES, architecture_names, build_model, list_architectures,
                                 register_architecture)
from lib.models.wide_resnet import WideResNet, wide_resnet

__all__ = ["ARCHITECTURES", "OFFICIAL_NORMALIZATION", "Normalization", "OfficialCheckpointError",
           "WideResNet", "architecture_names", "build_model", "default_normalization",
           "list_architectures", "load_official_wrn", "register_architecture", "wide_resnet"]
