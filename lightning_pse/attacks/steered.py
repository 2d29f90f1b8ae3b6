"""PGD on the C&W margin whose first step leans on one of the margin's two mechanisms (PSE-AT's
inner attack, ``docs/method.md`` §4; our choice)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .losses import other_max
from .pgd import PGD


def split_margin(weights: Tensor) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    """``f(Z, y) = w_s·(−Z_y) + w_p·max_{j≠y} Z_j`` ``[B]`` for ``weights = (w_s, w_p)``: the C&W
    margin (``w_s = w_p = 1``) with its suppression and promotion terms weighted."""
    w_s, w_p = weights

    def objective(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        return w_s * -logits.gather(1, y[:, None]).squeeze(1) + w_p * other_max(logits, y)

    return objective


class SteeredPGD(PGD):
    """Untargeted PGD on the C&W margin whose *first* step ascends the split objective
    ``w_s·(−Z_y) + w_p·max_{j≠y} Z_j`` (``split_margin``) and every later step the margin
    ``max_{j≠y} Z_j − Z_y`` itself.

    Why only the first step: for ``w_s ≠ w_p`` the split objective is
    ``((w_s+w_p)/2)·margin + ((w_p−w_s)/2)·(Z_y + max_{j≠y} Z_j)``, and the second term cannot
    change the decision; the steepest-ascent step of the margin is unique (``sign(∇)`` for ℓ∞), so a
    step on any other objective gains less margin to first order. Steering every step (the earlier
    PSE-AT) spent that loss on every step; here the later steps ascend the margin, whose value
    alone decides success. With ``weights = (1, 1)`` it is ``PGD(loss="cw")`` exactly.

    Args:
        margin_weights: ``(w_s, w_p)`` ``[2]``, read at every call (PSE-AT updates it each epoch).
        eps: as ``PGD``.
        steps: as ``PGD``.
        step_size: as ``PGD``.
        norm: as ``PGD``.
        random_start: as ``PGD``.
        seed: as ``PGD`` (the attack is one untargeted run).
    """

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 10,
        step_size: float | None = None,
        norm: str = "linf",
        random_start: bool = True,
        seed: int | None = None,
        margin_weights: Tensor | None = None,
    ) -> None:
        super().__init__(
            eps=eps, steps=steps, step_size=step_size, norm=norm, random_start=random_start, loss="cw", seed=seed
        )
        self.margin_weights = torch.ones(2) if margin_weights is None else margin_weights

    def step_objective(self, step: int | None) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
        """Step 0: ``split_margin(margin_weights)``; later steps and restarts: the margin."""
        return split_margin(self.margin_weights) if step == 0 else self._loss_objective
