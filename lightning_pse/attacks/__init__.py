"""Adversarial attacks: ``attack(model, x, y, target=None, mask=None) -> x_adv``.

Every attack takes pixels in [0, 1], runs the model in eval mode and restores its exact state,
and is constructible from YAML (``class_path: lightning_pse.attacks.PGD``, ``init_args: ...``).
"""

from .apgd import APGD
from .base import Attack, AttackResult
from .cw import CW
from .ead import EAD
from .evaluate import attack_correct, robust_correct
from .pgd import FGSM, PGD
from .square import Square
from .steered import SteeredPGD, split_margin
from .strattack import StrAttack
from .targets import TARGET_RULES, select_targets
from .trades import TRADESAttack

__all__ = [
    "APGD",
    "Attack",
    "AttackResult",
    "CW",
    "EAD",
    "FGSM",
    "PGD",
    "Square",
    "SteeredPGD",
    "StrAttack",
    "TARGET_RULES",
    "TRADESAttack",
    "attack_correct",
    "robust_correct",
    "select_targets",
    "split_margin",
]
