"""Out-of-distribution detection (paper §4.1).

Each model scores the in-distribution test set and every OOD set; OOD is the
positive class and the anomaly score is −(maximum softmax probability)
(Hendrycks & Gimpel, 2017). AUROC, AUPR (OOD positive) and FPR at 95% OOD
recall are reported as fractions, per OOD set. Beyond the paper, the same
logits are also scored by the energy score (Liu et al., 2020) and the negative
max logit (Hendrycks et al., 2022).
"""

from __future__ import annotations

import numpy as np
import torch

from lib.data import ImageDataset, get_dataset
from lib.evaluation.memo import memoized
from lib.metrics import energy_score, max_logit_score, max_softmax_score, ood_metrics
from lib.training.engine import predict_logits

# How each OOD dataset takes its size and count (see lib.data): generated sets
# are drawn at the target's resolution; image folders are resized and limited.
_GENERATED = {"gaussian", "rademacher", "blobs", "uniform", "glyphs"}
_IMAGE_FOLDERS = {"svhn", "textures", "places365", "lsun", "isun"}

SCORES = {
    "msp": max_softmax_score,        # the paper's score
    "energy": energy_score,          # beyond the paper
    "max_logit": max_logit_score,    # beyond the paper
}


def _match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if channels == 1:  # ITU-R 601 luma, as PIL's "L" conversion
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    return images.repeat(1, 3, 1, 1)


def load_ood_set(name: str, like: ImageDataset, num: int, root=None, seed: int = 0) -> ImageDataset:
    """At most ``num`` images of OOD set ``name`` at the resolution and channel
    count of ``like`` (the in-distribution test set), drawn reproducibly."""
    channels, size = like.shape[0], like.shape[1]
    if name in _GENERATED:
        data = get_dataset(name, "test", root, num=num, size=size, channels=channels, seed=seed)
    elif name in _IMAGE_FOLDERS:
        data = get_dataset(name, "test", root, size=size, limit=num, seed=seed)
    elif name == "digits":
        data = get_dataset(name, "test", root, size=size, channels=channels)
    else:  # another labelled dataset used as OOD (e.g. CIFAR-100 for CIFAR-10)
        data = get_dataset(name, "test", root)
    if len(data) > num:
        data = data.subset(np.sort(np.random.default_rng(seed).permutation(len(data))[:num]))
    images = _match_channels(data.images, channels)
    if images.shape[-1] != size:
        raise ValueError(f"OOD set {name!r} has {images.shape[-1]}px images; the target has {size}px")
    return ImageDataset(images, torch.zeros(len(images), dtype=torch.int64), 1, data.info)


def ood_rows(model, in_test: ImageDataset, ood_sets: dict[str, ImageDataset], device,
             scores=("msp",), recall: float = 0.95) -> list[dict]:
    """One row per (OOD set, score, metric), values as fractions; memoized on
    disk (:mod:`lib.evaluation.memo`), so a re-built page does not re-evaluate."""
    device = torch.device(device)

    def compute() -> list[dict]:
        in_logits = predict_logits(model, in_test, device)
        rows = []
        for ood_name, ood_data in ood_sets.items():
            out_logits = predict_logits(model, ood_data, device)
            for score in scores:
                result = ood_metrics(SCORES[score](in_logits), SCORES[score](out_logits), recall)
                rows += [dict(ood_set=ood_name, score=score, metric=metric, value=float(value))
                         for metric, value in result.items()]
        return rows

    params = {"ood_sets": list(ood_sets), "scores": list(scores), "recall": recall}
    return memoized("ood_rows", model, [in_test, *ood_sets.values()], params, compute,
                    device=device)
