"""Adversarial robustness of a trained classifier (paper §3.3, Table 3).

Accuracy is a fraction (0–1) of a test set: on clean images, and under the
untargeted L∞ PGD of :func:`lib.attacks.pgd_linf` (random start, pixels in
[0, 1], ε and step in pixel units). The model is attacked and scored in
**eval mode** (batch norm with its running statistics, no dropout) and its mode
is restored afterwards. The attack and the scoring run in float32 on every
device (no autocast: bf16 autocast is for training only; and no TensorFloat-32
on CUDA either, :func:`lib.training.precision.tf32`, which torch would
otherwise allow for cuDNN convolutions). ``start`` chooses where PGD's ε-ball
is centred: ``"paper"`` (default) around the clean image, ``"official"``
around the noisy random start as the official code does
(:func:`lib.attacks.pgd_linf`; issue 27). Random starts come
from one CPU generator seeded by ``seed``, so an evaluation is reproducible
and, for a given ``seed``, every attack on the same data starts from the same
noise (the sanity curves of
:mod:`lib.sections.adversarial`, accuracy against ε and against the number of
steps, compare like with like; :func:`non_increasing` judges them).

AutoAttack (Croce & Hein 2020) is a stronger check; see
:func:`lib.attacks.autoattack_accuracy` and :func:`autoattack_on`. A correct
prediction is one that :func:`lib.metrics.classification.top1_wrong` does not
flag (the one top-1 definition); the standard error of an accuracy is
:func:`lib.claims.binomial_se`.
"""

from __future__ import annotations

import numpy as np
import torch

from lib.attacks import autoattack_accuracy, pgd_linf
from lib.attacks.autoattack import SQUARE_QUERIES, TORCHATTACKS_ITERATIONS
from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.metrics.classification import top1_wrong
from lib.training.precision import tf32
from lib.validation import check_range, check_type


def _batches(dataset: ImageDataset, device, batch_size: int):
    check_type("dataset", dataset, ImageDataset)
    return DeviceLoader(dataset, batch_size, shuffle=False, augment=False, device=device,
                        channels_last=True)


def pgd_accuracy(model: torch.nn.Module, dataset: ImageDataset, device, eps: float,
                 step_size: float, steps: int, seed: int = 0, batch_size: int = 500,
                 random_start: bool = True, start: str = "paper") -> float:
    """Fraction of ``dataset`` classified correctly after an untargeted L∞ PGD
    attack (``steps`` steps of ``step_size`` in the ε-ball, in eval mode, float32
    without TF32; ``start``: where the ball is centred, :func:`lib.attacks.pgd_linf`).

    ``eps = 0`` or ``steps = 0`` without a random start is the clean accuracy."""
    check_range("eps", eps, 0.0, None)
    check_type("steps", steps, int)
    check_range("steps", steps, 0, None)
    if len(dataset) == 0:
        raise ValueError("pgd_accuracy needs at least one example")
    generator = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with tf32(False):
            for batch in _batches(dataset, device, batch_size):
                x = batch.x
                if eps > 0 and (steps > 0 or random_start):
                    x = pgd_linf(model, batch.x, batch.y, eps=eps, step_size=step_size,
                                 steps=steps, random_start=random_start, generator=generator,
                                 start=start)
                with torch.no_grad():
                    correct += int((~top1_wrong(model(x), batch.y)).sum())
    finally:
        model.train(was_training)
    return correct / len(dataset)


def clean_accuracy(model: torch.nn.Module, dataset: ImageDataset, device,
                   batch_size: int = 500) -> float:
    """Fraction of ``dataset`` classified correctly (eval mode, no attack)."""
    return pgd_accuracy(model, dataset, device, eps=0.0, step_size=0.0, steps=0,
                        batch_size=batch_size, random_start=False)


def non_increasing(values, tolerance: float) -> bool:
    """Whether each value is at most ``tolerance`` above the smallest before it
    (a curve that should not rise, allowing for noise)."""
    values = np.asarray(values, dtype=float)
    return bool(np.all(values <= np.minimum.accumulate(values) + tolerance))


def autoattack_on(model, dataset: ImageDataset, eps: float, seed: int = 0,
                  version: str = "standard", batch_size: int = 500,
                  iterations: int = TORCHATTACKS_ITERATIONS,
                  square_queries: int = SQUARE_QUERIES) -> float:
    """:func:`lib.attacks.autoattack_accuracy` on an :class:`ImageDataset`
    (pixels in [0, 1]; classes from the dataset; ``iterations`` of APGD,
    APGD-T and FAB, ``square_queries`` of Square; float32 without TF32)."""
    x = dataset.images.float().div_(255.0)
    with tf32(False):
        return autoattack_accuracy(model, x, dataset.labels, eps=eps,
                                   n_classes=dataset.num_classes, version=version,
                                   batch_size=batch_size, seed=seed, iterations=iterations,
                                   square_queries=square_queries)
