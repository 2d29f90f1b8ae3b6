"""Robust accuracy: which samples an attack fails to fool."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.state import eval_mode
from .base import Attack


def robust_correct(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, correct: Tensor | None = None) -> Tensor:
    """``[B]`` bool: classified correctly on ``x`` and still after ``attack`` (for a targeted attack
    too: any misclassification counts). Only the correctly classified samples are attacked
    (``correct`` ``[B]``, computed when not given)."""
    y = y.to(x.device)
    if correct is None:
        with eval_mode(model), torch.no_grad():
            correct = model(x).argmax(dim=1) == y
    robust = correct.clone()
    if correct.any():
        robust[correct] = attack.run(model, x[correct], y[correct]).logits.argmax(dim=1) == y[correct]
    return robust
