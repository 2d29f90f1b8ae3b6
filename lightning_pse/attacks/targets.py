"""Choosing target classes for targeted attacks."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnknownNameError

TARGET_RULES = ("random", "least_likely", "most_likely")


def select_targets(rule: str, logits: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Target labels ``[B]``, always different from ``y``.

    - ``random``: uniform over the other classes (``generator`` makes it reproducible);
    - ``least_likely``: the class with the smallest logit;
    - ``most_likely``: the largest logit other than ``y`` (the easiest target).
    """
    num_classes = logits.shape[1]
    if rule == "random":
        shift = torch.randint(1, num_classes, y.shape, generator=generator, device=y.device)
        return (y + shift) % num_classes
    masked = logits.detach().scatter(1, y[:, None], float("inf") if rule == "least_likely" else float("-inf"))
    if rule == "least_likely":
        return masked.argmin(dim=1)
    if rule == "most_likely":
        return masked.argmax(dim=1)
    raise UnknownNameError(f"unknown target rule {rule!r}; choose one of {', '.join(TARGET_RULES)}")
