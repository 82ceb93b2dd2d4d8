"""The OOD sets of §4.1 (Table 4), at a target's resolution: the sets of the
official test scripts and, for Fashion-MNIST, the embedded ones (design.md §5).
The OOD page (:mod:`lib.sections.ood`) and the measurement of the released
networks (:mod:`lib.released`) draw them from here."""

from __future__ import annotations

from lib.data import dataset_info
from lib.evaluation.ood import OODSetSpec

# Each CIFAR is an OOD set for the other (paper §4.1, following Hendrycks et al., 2019;
# official uncertainty/CIFAR/test.py lines 265-277).
CIFAR_PAIRS = {"cifar10": "cifar100", "cifar100": "cifar10"}
# The embedded OOD sets of Fashion-MNIST (design.md §5).
EMBEDDED_OOD = ("gaussian", "rademacher", "blobs", "uniform", "digits", "glyphs")
# The OOD sets of the official test scripts (hendrycks/pre-training,
# uncertainty/CIFAR/test.py lines 183-263, uncertainty/TinyImageNet/test.py lines
# 172-252): Gaussian, Rademacher, Blobs, Textures, SVHN, Places365 and the raw LSUN
# test set (lib.data.ood_real's lsun_raw); per target, the other CIFAR (CIFAR_PAIRS)
# or, for Tiny ImageNet, held-out ImageNet classes (TinyImageNet/test.py lines 254-263).
PAPER_OOD = ("gaussian", "rademacher", "blobs", "textures", "svhn", "places365", "lsun_raw")
TARGET_OOD = {**{t: (o,) for t, o in CIFAR_PAIRS.items()}, "tiny_imagenet": ("imagenet_heldout",)}
# Scored at the paper preset but in no official script: shown apart, beyond the paper.
BEYOND_PAPER_OOD = ("isun",)
# At most this many images per OOD set at the paper preset (2,000: a fifth of the
# 10,000-image test sets, as the official scripts' ood_num_examples).
PAPER_OOD_SAMPLES = 2000


def with_target_sets(ood_sets, target: str) -> list[str]:
    """``ood_sets`` and the sets of ``target`` itself (:data:`TARGET_OOD`):
    those Table 4 averages."""
    return list(ood_sets) + list(TARGET_OOD.get(target, ()))


def ood_set_specs(target: str, names, count: int, seed: int = 0) -> list[OODSetSpec]:
    """The OOD sets ``names`` at ``target``'s resolution (from its dataset
    info), at most ``count`` images each, drawn with ``seed``."""
    info = dataset_info(target)
    if info.image_size is None or info.channels is None:
        raise ValueError(f"dataset {target!r} declares no image size or channel count")
    return [OODSetSpec(name, count, info.channels, info.image_size, seed) for name in names]
