"""Robust accuracy: which samples an attack fails to fool."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.state import eval_mode
from .base import Attack, AttackResult


def attack_correct(
    attack: Attack, model: nn.Module, x: Tensor, y: Tensor, correct: Tensor | None = None
) -> tuple[Tensor, AttackResult | None]:
    """Attack the correctly classified samples only (``correct`` ``[B]``, computed when not given).

    Returns ``robust`` ``[B]`` bool (classified correctly on ``x`` and still after the attack; for a
    targeted attack too, any misclassification counts) and the ``AttackResult`` of the attacked
    samples (``None`` when none was correct)."""
    y = y.to(x.device)
    if correct is None:
        with eval_mode(model), torch.no_grad():
            correct = model(x).argmax(dim=1) == y
    robust = correct.clone()
    if not correct.any():
        return robust, None
    result = attack.run(model, x[correct], y[correct])
    robust[correct] = result.logits.argmax(dim=1) == y[correct]
    return robust, result


def robust_correct(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, correct: Tensor | None = None) -> Tensor:
    """``[B]`` bool: classified correctly on ``x`` and still after ``attack`` (see ``attack_correct``)."""
    return attack_correct(attack, model, x, y, correct)[0]
