"""Robust accuracy under AutoAttack (Croce & Hein 2020) — beyond the paper,
which evaluates with 20-step PGD; a stronger check that the robustness is not
gradient masking. A thin wrapper around ``torchattacks.AutoAttack``.

Strength: the original AutoAttack runs APGD-CE, APGD-T and FAB-T for 100
iterations each (fra31/auto-attack ``autoattack/autoattack.py`` lines 33–46:
``n_iter=100``), while torchattacks 3.5.1 builds them with its attacks' default
``steps=10`` (``torchattacks/attacks/{apgd,apgdt,fab}.py``). ``iterations`` sets
the three attacks' steps: :data:`ORIGINAL_ITERATIONS` is the standard strength,
:data:`TORCHATTACKS_ITERATIONS` the lighter torchattacks default. Square keeps
its 5,000 queries in both. The targeted attacks (APGD-T, FAB-T) try at most
:data:`TARGET_CLASSES` target classes, as the original's standard version
(same file, lines 306–320), where torchattacks tries all K−1 (the same for 10
classes).
"""

from __future__ import annotations

import numpy as np
import torch

from lib.metrics import top1_wrong
from lib.validation import check_choice, check_range, check_type

VERSIONS = ("standard", "plus", "rand")
ORIGINAL_ITERATIONS = 100  # Croce & Hein's APGD/FAB n_iter
TORCHATTACKS_ITERATIONS = 10  # torchattacks 3.5.1's APGD/APGDT/FAB default steps
TARGET_CLASSES = 9  # the original standard version's APGD-T / FAB-T target classes
SQUARE_QUERIES = 5000  # the original's (and torchattacks') Square query budget
# Fewest classes each version's losses index: the DLR loss reads the third-largest
# logit, the targeted DLR (APGD-T, in "standard" and "plus") the fourth. With fewer,
# torchattacks fails with an IndexError as soon as an example survives APGD-CE.
MIN_CLASSES = {"standard": 4, "plus": 4, "rand": 3}


def autoattack_accuracy(model: torch.nn.Module, x, y, eps: float = 8 / 255,
                        n_classes: int = 10, version: str = "standard",
                        batch_size: int = 500, seed: int = 0,
                        iterations: int = TORCHATTACKS_ITERATIONS,
                        square_queries: int = SQUARE_QUERIES) -> float:
    """Fraction (0–1) of ``(x, y)`` still classified correctly after L∞
    AutoAttack with radius ``eps`` (pixels in [0, 1]).

    ``version`` "standard" runs APGD-CE, APGD-T, FAB-T and Square in turn on the
    examples not yet broken, the gradient attacks (APGD, APGD-T, FAB) for
    ``iterations`` steps each (the original's strength: :data:`ORIGINAL_ITERATIONS`),
    Square with ``square_queries`` queries (the original's :data:`SQUARE_QUERIES`);
    ``seed`` fixes the attacks' randomness (torchattacks would otherwise seed
    from the clock). Inputs go to the model's device in
    ``batch_size`` chunks; the model is attacked in eval mode and its mode is
    restored afterwards (torchattacks' behaviour), as are the parameters'
    ``.grad`` (FAB calls ``backward``, which would otherwise leave gradients).
    ``n_classes`` must be at least :data:`MIN_CLASSES` of ``version`` (the DLR losses)."""
    import torchattacks

    check_choice("version", version, VERSIONS)
    check_range("eps", eps, 0.0, None)
    check_type("n_classes", n_classes, int)
    check_range("n_classes", n_classes, MIN_CLASSES[version], None)
    check_type("batch_size", batch_size, int)
    check_range("batch_size", batch_size, 1, None)
    check_type("iterations", iterations, int)
    check_range("iterations", iterations, 1, None)
    check_type("square_queries", square_queries, int)
    check_range("square_queries", square_queries, 1, None)
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("autoattack_accuracy needs at least one example")
    device = next(model.parameters()).device
    attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version=version,
                                     n_classes=n_classes, seed=seed)
    for inner in attack._autoattack.attacks:  # both read when the attack runs
        if isinstance(inner, (torchattacks.APGD, torchattacks.APGDT, torchattacks.FAB)):
            inner.steps = iterations
        if isinstance(inner, (torchattacks.APGDT, torchattacks.FAB)):
            inner.n_target_classes = min(TARGET_CLASSES, n_classes - 1)
        if isinstance(inner, torchattacks.Square):
            inner.n_queries = square_queries
    was_training = model.training
    saved_grads = [(p, None if p.grad is None else p.grad.clone()) for p in model.parameters()]
    correct = 0
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device)
            adv = attack(xb, yb)
            model.eval()
            with torch.no_grad():
                correct += int((~top1_wrong(model(adv), yb)).sum())
    finally:
        model.train(was_training)
        for p, grad in saved_grads:
            p.grad = grad
    return correct / len(x)
