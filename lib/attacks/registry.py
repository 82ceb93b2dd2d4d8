"""Attacks by name (paper §3.3): ``attack(model, x, y, eps, **params) ->
x_adv``, adversarial images in [0, 1] within the L∞ ball of radius ``eps``
around ``x``. Register one with ``@register_attack(name)``;
:func:`list_attacks` lists them and the contract tests check every one."""

from __future__ import annotations

from collections.abc import Callable

from lib.registry import Registry

ATTACKS: Registry[Callable] = Registry("attack", providers=("lib.attacks.pgd",))
register_attack = ATTACKS.register
get_attack = ATTACKS.get
list_attacks = ATTACKS.names
