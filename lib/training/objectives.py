"""Training objectives by name. A section registers its own (Forward/GLC
corrected losses, adversarial training…) with :func:`register_objective`.

An objective is ``objective(model, batch, **params) -> (loss, logits)`` where
``batch`` is a :class:`lib.data.loader.Batch`; per-example weights, when the
data carries them, scale each example's loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lib.registry import Registry

OBJECTIVES: Registry[Callable] = Registry(
    "objective", providers=("lib.noise", "lib.imbalance", "lib.attacks.pgd"))
register_objective = OBJECTIVES.register
get_objective = OBJECTIVES.get


def objective_names() -> list[str]:
    return sorted(OBJECTIVES)


list_objectives = objective_names


def weighted_mean(per_example: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-example losses, weighted when ``weight`` is given."""
    if weight is None:
        return per_example.mean()
    return (per_example * weight).sum() / weight.sum().clamp_min(1e-12)


@register_objective("cross_entropy")
def cross_entropy(model, batch, **params):
    """Plain (optionally per-example weighted) cross-entropy."""
    if params:
        raise TypeError(f"cross_entropy takes no parameters, got {sorted(params)}")
    logits = model(batch.x)
    loss = weighted_mean(F.cross_entropy(logits.float(), batch.y, reduction="none"), batch.weight)
    return loss, logits
