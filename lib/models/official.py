"""The authors' released Wide ResNets as this library's :class:`WideResNet`
(issue 15, item 1; design.md §6).

The official network (``downsampled_train/models/wrn.py`` of
hendrycks/pre-training, the same in ``uncertainty/`` and
``robustness/adversarial/``; RobustBench's ``Hendrycks2019Using`` too) is the
pre-activation WRN of :mod:`lib.models.wide_resnet` with other module names:

* ``block{g}.layer.{i}.{bn1,conv1,bn2,conv2}.*`` → ``block{g}.{i}.…`` (the same names);
* ``block{g}.layer.{i}.convShortcut.*`` → ``block{g}.{i}.shortcut.*``;
* ``bn1.*`` (after the last group) → ``bn.*``; ``fc.*`` → ``classifier.*``;
* ``conv1.*`` is ``conv1.*``.

It takes inputs normalized as (x − 0.5) / 0.5 (official
``trn.Normalize([0.5] * 3, [0.5] * 3)``; ``x * 2 - 1`` in the adversarial
scripts); the model returned here takes pixels in [0, 1] and applies that
normalization inside (:data:`~lib.models.normalization.OFFICIAL_NORMALIZATION`).
Files are read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from lib.models.normalization import OFFICIAL_NORMALIZATION
from lib.models.wide_resnet import WideResNet, wide_resnet

# (this library's key pattern, the official one); applied in order, first match wins.
_RENAMES = (
    (re.compile(r"^block(\d)\.(\d+)\.shortcut\.(.+)$"), r"block\1.layer.\2.convShortcut.\3"),
    (re.compile(r"^block(\d)\.(\d+)\.(.+)$"), r"block\1.layer.\2.\3"),
    (re.compile(r"^bn\.(.+)$"), r"bn1.\1"),
    (re.compile(r"^classifier\.(.+)$"), r"fc.\1"),
)
_NORMALIZATION_KEYS = ("pixel_mean", "pixel_std")
# BatchNorm's counter, absent from files saved by PyTorch < 0.4.1; it never changes the output.
_OPTIONAL_SUFFIX = ".num_batches_tracked"


class OfficialCheckpointError(ValueError):
    """A file that is not a usable official Wide ResNet checkpoint (unreadable,
    truncated, not a state_dict, or another architecture or class count)."""


def official_key(key: str) -> str:
    """The official name of this library's state_dict key ``key``."""
    for pattern, replacement in _RENAMES:
        if pattern.match(key):
            return pattern.sub(replacement, key)
    return key


def official_state_dict(model: WideResNet) -> dict[str, torch.Tensor]:
    """``model``'s weights in the official key layout (what the official
    scripts save; the normalization is not part of it): for fixture files,
    e.g. the paper preset's dry run, and for use with the official code."""
    return {official_key(k): v.detach().cpu().clone() for k, v in model.state_dict().items()
            if k not in _NORMALIZATION_KEYS}


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint at ``path`` (``weights_only=True``): a
    plain state_dict, a DataParallel one (every key prefixed ``module.``,
    removed here) or a dict holding one under ``"state_dict"``. A missing,
    truncated or non-checkpoint file fails naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
            OSError, AttributeError, TypeError) as error:
        raise OfficialCheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated, or not a checkpoint): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}; "
            "download it again") from error
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise OfficialCheckpointError(
            f"{path} holds a {type(obj).__name__}, not a state_dict (a mapping of parameter "
            "names to tensors, as torch.save(net.state_dict()) writes)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def convert_official_state_dict(state: Mapping[str, torch.Tensor], model: WideResNet,
                                source: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """``state`` (official key layout) as a state_dict for ``model`` (this
    library's layout, its normalization included). The first official key that
    is missing, unexpected or of another shape fails, naming the key and both
    shapes, and ``source``."""
    expected = {official_key(k): (k, v.shape) for k, v in model.state_dict().items()
                if k not in _NORMALIZATION_KEYS}
    what = (f"WRN-{model.depth}-{model.widen_factor} with {model.num_classes} classes and "
            f"{model.in_channels} input channels")
    converted = {}
    for name, (ours, shape) in expected.items():
        if name not in state:
            if name.endswith(_OPTIONAL_SUFFIX):
                converted[ours] = torch.zeros((), dtype=torch.long)
                continue
            raise OfficialCheckpointError(
                f"{source} is not the official {what}: key {name!r} (shape {tuple(shape)}) "
                "is missing from the file")
        if tuple(state[name].shape) != tuple(shape):
            raise OfficialCheckpointError(
                f"{source} is not the official {what}: key {name!r} has shape "
                f"{tuple(state[name].shape)} in the file, {tuple(shape)} expected")
        converted[ours] = state[name]
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise OfficialCheckpointError(
            f"{source} is not the official {what}: the file has key {unexpected[0]!r} (shape "
            f"{tuple(state[unexpected[0]].shape)}), which that network does not "
            f"({len(unexpected)} such key(s))")
    if not model.default_normalization:
        converted.update(pixel_mean=model.pixel_mean.clone(), pixel_std=model.pixel_std.clone())
    return converted


def official_wrn_from_state_dict(state: Mapping[str, torch.Tensor], depth: int,
                                 widen_factor: int, num_classes: int | None = None,
                                 source: str = "the checkpoint") -> WideResNet:
    """:func:`load_official_wrn` on tensors already read (:func:`read_state_dict`)."""
    if num_classes is None:
        if "fc.weight" not in state:
            raise OfficialCheckpointError(f"{source} has no key 'fc.weight' (the official "
                                          "classifier), so its class count is unknown")
        num_classes = int(state["fc.weight"].shape[0])
    model = wide_resnet(depth, widen_factor, num_classes, in_channels=3,
                        normalization=OFFICIAL_NORMALIZATION)
    model.load_state_dict(convert_official_state_dict(state, model, source))
    return model.eval()


def load_official_wrn(path, depth: int, widen_factor: int,
                      num_classes: int | None = None) -> WideResNet:
    """The authors' released WRN-``depth``-``widen_factor`` at ``path`` as this
    library's :class:`WideResNet`, in eval mode: it takes pixels in [0, 1] and
    normalizes inside as the official code does, (x − 0.5) / 0.5, so its
    logits equal the official network's. ``num_classes=None`` reads the class
    count from the file's classifier (the file of the ImageNet model without
    CIFAR-10 classes does not say it elsewhere). See the module docstring for
    the formats accepted and the errors."""
    path = Path(path).expanduser()
    return official_wrn_from_state_dict(read_state_dict(path), depth, widen_factor,
                                        num_classes, source=str(path))
