"""Untargeted L∞ projected gradient descent (Madry et al. 2018; paper §3.3).

Pixel space: inputs and adversarial examples are float32 in [0, 1]; ε and the
step size are in the same units (8/255 = 8 grey levels). The adversary
*ascends* the cross-entropy of the true label.

Adversarial training (objective ``"adversarial"``) crafts the examples with the
model in whatever mode the training engine put it in — train mode — as the
paper's official code does (github.com/hendrycks/pre-training,
``robustness/adversarial/tune.py``: ``net.train()`` then ``adversary(net, bx, by)``)
and Madry et al.'s reference implementation: batch norm normalises with batch
statistics and its running averages also see the attack's forward passes;
dropout stays active. Paper defaults: ε = 8/255, step 2/255, 10 steps in
training, 20 at test, random start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lib.training.objectives import register_objective, weighted_mean
from lib.validation import check_range, check_type


def pgd_linf(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255,
             step_size: float = 2 / 255, steps: int = 20, random_start: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted L∞ PGD adversarial examples for ``model`` at ``(x, y)``.

    Start: ``x`` plus uniform noise in [−ε, ε] (when ``random_start``), clamped
    to [0, 1]. Each of ``steps`` steps: add ``step_size · sign(∇ₓ CE)`` (loss
    summed over the batch, computed under whatever autocast context is active),
    then project onto the ε-ball around ``x`` and onto [0, 1].

    Returns a detached float32 tensor shaped like ``x``. The iterate stays
    float32 even under autocast; the model's parameters, their ``.grad`` and its
    train/eval mode are left untouched (gradients are taken with
    ``torch.autograd.grad`` w.r.t. the input only). In train mode, batch-norm
    running statistics are updated by the forward passes, as in any forward.
    ``generator`` seeds the random start (it may live on the CPU for any device).
    """
    check_range("eps", eps, 0.0, None)
    check_range("step_size", step_size, 0.0, None)
    check_type("steps", steps, int)
    check_range("steps", steps, 0, None)
    x = x.detach().float()
    y = y.detach()
    x_adv = x.clone()
    if random_start and eps > 0:
        device = generator.device if generator is not None else x.device
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=torch.float32)
        x_adv = (x + (noise.to(x.device) * 2 - 1) * eps).clamp_(0, 1)
    lower, upper = (x - eps).clamp_(min=0), (x + eps).clamp_(max=1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x_adv).float(), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.minimum(torch.maximum(x_adv.detach() + step_size * grad.sign(), lower),
                              upper)
    return x_adv.detach()


@register_objective("adversarial")
def adversarial_training_loss(model, batch, *, eps: float = 8 / 255, step_size: float = 2 / 255,
                              steps: int = 10):
    """Madry et al. (2018) adversarial training: cross-entropy (weighted mean
    when the data carries weights) on PGD examples crafted against the model in
    its current mode (train mode in the engine; see the module docstring)."""
    x_adv = pgd_linf(model, batch.x, batch.y, eps=eps, step_size=step_size, steps=steps,
                     random_start=True)
    logits = model(x_adv)
    loss = weighted_mean(F.cross_entropy(logits.float(), batch.y, reduction="none"),
                         batch.weight)
    return loss, logits
