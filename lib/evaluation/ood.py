"""Out-of-distribution detection (paper §4.1).

Each model scores the in-distribution test set and every OOD set; OOD is the
positive class and the anomaly score is −(maximum softmax probability)
(Hendrycks & Gimpel, 2017). AUROC, AUPR (OOD positive) and FPR at 95% OOD
recall are reported as fractions, per OOD set. Beyond the paper, the same
logits are also scored by every other score of :data:`lib.metrics.OOD_SCORES`
(the energy score, Liu et al., 2020; the negative max logit, Hendrycks et al., 2022).

An OOD set is described by an :class:`OODSetSpec` (name, count, seed,
resolution): the evaluation memo is keyed by that description, not by pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.data import ImageDataset, get_dataset
from lib.evaluation.memo import memoized
from lib.metrics import OOD_SCORES, ood_metrics
from lib.training.engine import predict_logits

# How each OOD dataset takes its size and count (see lib.data): generated sets
# are drawn at the target's resolution; image folders are resized and limited.
_GENERATED = {"gaussian", "rademacher", "blobs", "uniform", "glyphs"}
_IMAGE_FOLDERS = {"svhn", "textures", "places365", "lsun", "lsun_raw", "imagenet_heldout", "isun"}

SCORES = OOD_SCORES  # the earlier name: score name -> anomaly score function


def _match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if channels == 1:  # ITU-R 601 luma, as PIL's "L" conversion
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    return images.repeat(1, 3, 1, 1)


@dataclass(frozen=True)
class OODSetSpec:
    """At most ``count`` images of OOD set ``name`` at ``channels`` × ``size``
    × ``size`` (the in-distribution resolution), drawn reproducibly from ``seed``."""

    name: str
    count: int
    channels: int
    size: int
    seed: int = 0

    def to_dict(self) -> dict:
        return {"ood_set": self.name, "count": self.count, "channels": self.channels,
                "size": self.size, "seed": self.seed}

    def build(self, root=None) -> ImageDataset:
        name, num, size, channels, seed = self.name, self.count, self.size, self.channels, self.seed
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
            raise ValueError(f"OOD set {name!r} has {images.shape[-1]}px images; the target has "
                             f"{size}px")
        return ImageDataset(images, torch.zeros(len(images), dtype=torch.int64), 1, data.info)


def ood_rows(run, in_test, ood_sets, device, root=None, scores=("msp",), recall: float = 0.95,
             runs_dir=None) -> list[dict]:
    """One row per (OOD set, score, metric) for the trained ``run`` with
    in-distribution test set ``in_test`` (an :class:`EvalDataSpec`) and
    ``ood_sets`` (:class:`OODSetSpec`): ``ood_set``, ``score``, ``metric``,
    ``value`` (a fraction), ``n_in`` and ``n_out`` (the images scored).
    Memoized on disk by the run and the specs: a memo hit loads no image."""
    device = torch.device(device)

    def compute() -> list[dict]:
        test = in_test.build(root)
        in_logits = predict_logits(run.model, test, device)
        rows = []
        for spec in ood_sets:
            out_logits = predict_logits(run.model, spec.build(root), device)
            for score in scores:
                anomaly = OOD_SCORES.get(score)
                result = ood_metrics(anomaly(in_logits), anomaly(out_logits), recall)
                rows += [dict(ood_set=spec.name, score=score, metric=metric, value=float(value),
                              n_in=len(in_logits), n_out=len(out_logits))
                         for metric, value in result.items()]
        return rows

    return memoized("ood_rows", run, [in_test, *ood_sets],
                    {"scores": list(scores), "recall": recall}, compute,
                    device=device, runs_dir=runs_dir)
