"""EAD, the elastic-net attack (Chen et al., "EAD: Elastic-Net Attacks to Deep Neural Networks
via Adversarial Examples", AAAI 2018)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import UnknownNameError
from ..progress import step_done
from .base import Attack
from .const_search import BestAdversarial, ConstSearch
from .losses import attack_margin

DECISION_RULES = ("L1", "EN")


def shrink(z: Tensor, x: Tensor, beta: float) -> Tensor:
    """Projected shrinkage-thresholding ``S_β``: soft-threshold ``z − x`` by β, then clip to [0, 1]."""
    delta = z - x
    shrunk = torch.sign(delta) * (delta.abs() - beta).clamp(min=0)
    return (x + shrunk).clamp(0, 1)


class EAD(Attack):
    """EAD: minimise ``c · max(m(x + δ) + κ, 0) + ‖δ‖₂² + β‖δ‖₁`` by FISTA: a gradient step on
    the smooth part, the shrinkage ``S_β`` for the ℓ1 part, Nesterov momentum ``k/(k+3)``, and
    a square-root decay of the learning rate; per-sample binary search over ``c``. Among
    successful iterates the one with the smallest ℓ1 (``decision_rule="L1"``) or elastic-net
    (``"EN"``: ``β‖δ‖₁ + ‖δ‖₂²``) distortion is returned, or ``x`` where none succeeded.

    Defaults are Chen et al.'s: β = 1e-3, 9 binary-search steps from ``c = 1e-3``, 1000
    iterations at learning rate 0.01, the L1 decision rule.

    Args:
        beta: ℓ1 weight β.
        confidence: κ.
        steps: optimisation steps per constant of the binary search.
        lr: the optimiser's step size.
        binary_search_steps: constants tried by the binary search on ``c``.
        initial_const: the first constant ``c``.
        decision_rule: ``"L1"`` or ``"EN"``.
        targeted: see ``Attack``.
        seed: see ``Attack``.
        target_rule: see ``Attack``.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1]; ``y``, ``target`` ``[B]``; returns ``x_adv``.

    Example::

        x_adv = EAD(steps=200, binary_search_steps=5)(model, x, y)
    """

    bounded = False  # minimal elastic-net attack: no ε
    norm = "l1"  # the distortion it minimises

    def __init__(
        self,
        beta: float = 1e-3,
        confidence: float = 0.0,
        steps: int = 1000,
        lr: float = 0.01,
        binary_search_steps: int = 9,
        initial_const: float = 1e-3,
        decision_rule: str = "L1",
        targeted: bool = False,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        if decision_rule not in DECISION_RULES:
            raise UnknownNameError(
                f"unknown decision_rule {decision_rule!r}; choose one of {', '.join(DECISION_RULES)}"
            )
        self.beta = beta
        self.confidence = confidence
        self.steps = steps
        self.lr = lr
        self.binary_search_steps = binary_search_steps
        self.initial_const = initial_const
        self.decision_rule = decision_rule

    def budget(self) -> int:
        return self.binary_search_steps * self.steps

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        search = ConstSearch(x.shape[0], self.initial_const, x.device, x.dtype)
        best = BestAdversarial(x)
        restrict = (lambda z: z) if mask is None else (lambda z: x + mask * (z - x))  # noqa: E731
        for _ in range(self.binary_search_steps):
            x_k = x.clone()
            y_k = x.clone()
            succeeded_now = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for k in range(self.steps):
                lr = self.lr * (1 - k / self.steps) ** 0.5
                y_k.requires_grad_(True)
                margin = attack_margin(model(y_k), y, target)
                smooth = (search.const * (margin + self.confidence).clamp(min=0)).sum() + (y_k - x).pow(2).sum()
                (grad,) = torch.autograd.grad(smooth, y_k)
                step_done()
                with torch.no_grad():
                    x_next = restrict(shrink(y_k - lr * grad, x, self.beta))
                    y_k = restrict(x_next + k / (k + 3) * (x_next - x_k))
                    x_k = x_next
                    ok = attack_margin(model(x_k), y, target) + self.confidence < 0
                    delta = (x_k - x).flatten(1)
                    l1 = delta.abs().sum(dim=1)
                    distance = l1 if self.decision_rule == "L1" else self.beta * l1 + delta.pow(2).sum(dim=1)
                    best.update(x_k, distance, ok)
                    succeeded_now |= ok
            search.update(succeeded_now)
        return best.x
