"""Adversarial robustness of a trained classifier (paper §3.3, Table 3).

Accuracy is a fraction (0–1) of a test set: on clean images, and under the
untargeted L∞ PGD of :func:`lib.attacks.pgd_linf` (random start, pixels in
[0, 1], ε and step in pixel units). The model is attacked and scored in
**eval mode** (batch norm with its running statistics, no dropout) and its mode
is restored afterwards. Random starts come from one CPU generator seeded by
``seed``, so an evaluation is reproducible and, for a given ``seed``, every
attack on the same data starts from the same noise (the ε and step sweeps
below compare like with like).

AutoAttack (Croce & Hein 2020) is a stronger check; see
:func:`lib.attacks.autoattack_accuracy` and :func:`autoattack_on`.
"""

from __future__ import annotations

import numpy as np
import torch

from lib.attacks import autoattack_accuracy, pgd_linf
from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.training.precision import autocast
from lib.validation import check_range, check_type


def _batches(dataset: ImageDataset, device, batch_size: int):
    check_type("dataset", dataset, ImageDataset)
    return DeviceLoader(dataset, batch_size, shuffle=False, augment=False, device=device,
                        channels_last=True)


def pgd_accuracy(model: torch.nn.Module, dataset: ImageDataset, device, eps: float,
                 step_size: float, steps: int, seed: int = 0, batch_size: int = 500,
                 random_start: bool = True) -> float:
    """Fraction of ``dataset`` classified correctly after an untargeted L∞ PGD
    attack (``steps`` steps of ``step_size`` in the ε-ball, in eval mode).

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
        for batch in _batches(dataset, device, batch_size):
            with autocast(device):
                x = batch.x
                if eps > 0 and (steps > 0 or random_start):
                    x = pgd_linf(model, batch.x, batch.y, eps=eps, step_size=step_size,
                                 steps=steps, random_start=random_start, generator=generator)
                with torch.no_grad():
                    correct += int((model(x).argmax(1) == batch.y).sum())
    finally:
        model.train(was_training)
    return correct / len(dataset)


def clean_accuracy(model: torch.nn.Module, dataset: ImageDataset, device,
                   batch_size: int = 500) -> float:
    """Fraction of ``dataset`` classified correctly (eval mode, no attack)."""
    return pgd_accuracy(model, dataset, device, eps=0.0, step_size=0.0, steps=0,
                        batch_size=batch_size, random_start=False)


def accuracy_vs_eps(model, dataset: ImageDataset, device, eps_values, steps: int,
                    step_fraction: float = 0.25, seed: int = 0) -> list[dict]:
    """Sanity check: accuracy under PGD-``steps`` with step ``step_fraction·ε``
    for each ε in ``eps_values`` (one dict per ε: eps, steps, accuracy). It
    should fall as ε grows, equal the clean accuracy at ε = 0 and reach about 0
    at a large ε."""
    check_range("step_fraction", step_fraction, 0.0, None)
    return [dict(eps=float(eps), steps=steps,
                 accuracy=pgd_accuracy(model, dataset, device, float(eps),
                                       step_fraction * float(eps), steps, seed))
            for eps in eps_values]


def accuracy_vs_steps(model, dataset: ImageDataset, device, eps: float, step_size: float,
                      steps_values, seed: int = 0) -> list[dict]:
    """Sanity check: accuracy under PGD with each number of steps in
    ``steps_values`` (one dict per count: eps, steps, accuracy), every attack
    from the same random start. More steps should never raise it beyond noise."""
    return [dict(eps=float(eps), steps=int(steps),
                 accuracy=pgd_accuracy(model, dataset, device, eps, step_size, int(steps), seed))
            for steps in steps_values]


def non_increasing(values, tolerance: float) -> bool:
    """Whether each value is at most ``tolerance`` above the smallest before it
    (a curve that should not rise, allowing for noise)."""
    values = np.asarray(values, dtype=float)
    return bool(np.all(values <= np.minimum.accumulate(values) + tolerance))


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy (fraction) measured on ``n`` examples; the
    accuracy is kept half an example away from 0 and 1, so a run with no
    correct (or no wrong) example still gets a non-zero error bar."""
    n = max(int(n), 1)
    p = min(max(float(accuracy), 0.5 / n), 1 - 0.5 / n)
    return float(np.sqrt(p * (1 - p) / n))


def autoattack_on(model, dataset: ImageDataset, eps: float, seed: int = 0,
                  version: str = "standard", batch_size: int = 500) -> float:
    """:func:`lib.attacks.autoattack_accuracy` on an :class:`ImageDataset`
    (pixels in [0, 1]; classes from the dataset)."""
    x = dataset.images.float().div_(255.0)
    return autoattack_accuracy(model, x, dataset.labels, eps=eps,
                               n_classes=dataset.num_classes, version=version,
                               batch_size=batch_size, seed=seed)
