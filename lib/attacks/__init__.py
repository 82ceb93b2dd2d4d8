"""Adversarial attacks in pixel space [0, 1] (paper §3.3; design.md §7).

``pgd_linf`` is the L∞ PGD of Madry et al. (2018), its ε-ball around the clean
image (the paper's threat model); ``start="official"`` reproduces the official
code's attack, whose ball is centred on the noisy random start (reach up to 2ε;
:mod:`lib.attacks.pgd`). Importing this package also registers the
``"adversarial"`` training objective. ``autoattack_accuracy``
(in :mod:`lib.attacks.autoattack`) is a thin wrapper around torchattacks'
AutoAttack (Croce & Hein 2020), which it imports only when it runs. Attacks
that return adversarial images are registered by name (:data:`ATTACKS`,
``@register_attack``, :func:`list_attacks`; :mod:`lib.attacks.registry`).
"""

from lib.attacks.autoattack import autoattack_accuracy
from lib.attacks.pgd import adversarial_training_loss, pgd_linf
from lib.attacks.registry import ATTACKS, get_attack, list_attacks, register_attack

__all__ = ["ATTACKS", "adversarial_training_loss", "autoattack_accuracy", "get_attack",
           "list_attacks", "pgd_linf", "register_attack"]
