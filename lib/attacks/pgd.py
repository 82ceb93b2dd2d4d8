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

**Where the official code differs: the random start moves the ball** (issue 27).
The official attack (hendrycks/pre-training at 10cd02a,
``robustness/adversarial/attacks.py``, ``PGD_linf.forward``) takes
``adv_bx = bx.detach()`` and then adds the uniform noise to ``adv_bx`` in place.
``detach()`` returns a tensor that shares storage with ``bx``, so the noise is
written into the clean batch itself, and every later projection onto
``[bx − ε, bx + ε]`` is centred on the *noisy start*, not on the clean image:
the final perturbation from the clean image can reach 2ε per pixel (before the
clamp to [0, 1]); the start itself is not clamped to [0, 1] either. Table 3 of
the paper was made with that attack, in adversarial training (``tune.py``,
PGD-10) and in the PGD-20 test (``test.py``). Our default, ``start="paper"``,
keeps the ε-ball around the clean image: the threat model the paper states
(§3.3: "perturbations of an ℓ∞ norm less than or equal to 8/255") and Madry et
al.'s. ``start="official"`` reproduces the official behaviour, for comparison
(as ``drop_last_bin=True`` reproduces the official calibration error): the
noise added to the clean batch, the ball centred on that noisy start, the start
not clamped. The adversarial page measures both on its Table 3 networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lib.attacks.registry import register_attack
from lib.training.objectives import register_objective, weighted_mean
from lib.validation import check_choice, check_range, check_type

# Where the PGD random start puts the ε-ball: "paper" (the default) around the clean
# image, the paper's stated threat model; "official" around the noisy start, as the
# official code's in-place addition does (see the module docstring).
PGD_STARTS = ("paper", "official")


@register_attack("pgd")
def pgd_linf(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255,
             step_size: float = 2 / 255, steps: int = 20, random_start: bool = True,
             generator: torch.Generator | None = None, start: str = "paper") -> torch.Tensor:
    """Untargeted L∞ PGD adversarial examples for ``model`` at ``(x, y)``
    (Madry et al. 2018; paper §3.3). Pixels in [0, 1]; ``eps`` and
    ``step_size`` in the same units.

    ``start="paper"`` (the default, the paper's threat model): start at ``x``
    plus uniform noise in [−ε, ε] (when ``random_start``), clamped to [0, 1].
    Each of ``steps`` steps: add ``step_size · sign(∇ₓ CE)`` (loss summed over
    the batch, computed under whatever autocast context is active), then
    project onto the ε-ball around ``x`` and onto [0, 1]: ‖result − x‖∞ ≤ ε.

    ``start="official"`` (the official code's behaviour; module docstring): the
    start ``s = x + u``, u uniform in [−ε, ε], is *not* clamped, and every step
    projects onto the ε-ball around ``s`` (then onto [0, 1]), so
    ‖result − x‖∞ ≤ 2ε. With ``steps=0`` it returns ``s`` unclamped, as the
    official code would; without ``random_start`` it equals the default.

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
    check_choice("start", start, PGD_STARTS)
    x = x.detach().float()
    y = y.detach()
    x_adv = x.clone()
    centre = x  # of the ε-ball
    if random_start and eps > 0:
        device = generator.device if generator is not None else x.device
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=torch.float32)
        x_adv = x + (noise.to(x.device) * 2 - 1) * eps
        if start == "official":
            centre = x_adv  # the noise lands in the clean batch: the ball moves with it
        else:
            x_adv = x_adv.clamp_(0, 1)
    lower, upper = (centre - eps).clamp_(min=0), (centre + eps).clamp_(max=1)
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
                              steps: int = 10, start: str = "paper"):
    """Madry et al. (2018) adversarial training (paper §3.3): cross-entropy
    (weighted mean when the data carries weights) on PGD examples crafted
    against the model in its current mode (train mode in the engine; see the
    module docstring). ``start="official"`` trains against the official
    code's attack (the ball around the noisy start, :func:`pgd_linf`); a run
    asks for it with ``("start", "official")`` in its ``objective_params``, so
    only such runs have other keys."""
    x_adv = pgd_linf(model, batch.x, batch.y, eps=eps, step_size=step_size, steps=steps,
                     random_start=True, start=start)
    logits = model(x_adv)
    loss = weighted_mean(F.cross_entropy(logits.float(), batch.y, reduction="none"),
                         batch.weight)
    return loss, logits
