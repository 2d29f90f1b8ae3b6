"""The inner maximisation of TRADES."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pgd import PGD


class TRADESAttack(PGD):
    """TRADES' inner maximisation (Zhang et al., "Theoretically Principled Trade-off between
    Robustness and Accuracy", ICML 2019): PGD on ``KL(p(x) ‖ p(x + δ))`` from a small Gaussian start
    ``δ₀ = 0.001·N(0, 1)`` (the KL's gradient is zero at ``δ = 0``). Labels are not used.

    Args:
        eps: as in ``PGD`` (TRADES: 8/255).
        steps: as in ``PGD`` (TRADES: 10).
        step_size: as in ``PGD`` (TRADES: 2/255).
        norm: as in ``PGD`` (TRADES: ℓ∞).
        seed: as in ``PGD``.
        start_std: std of the Gaussian start.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1], ``y`` ``[B]``; returns ``x_adv`` like ``x``.

    Example::

        x_adv = TRADESAttack(eps=8/255, steps=10, step_size=2/255)(model, x, y)
    """

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 10,
        step_size: float | None = None,
        norm: str = "linf",
        start_std: float = 0.001,
        seed: int | None = None,
    ) -> None:
        super().__init__(eps=eps, steps=steps, step_size=step_size, norm=norm, random_start=True, seed=seed)
        self.start_std = start_std

    def initial_delta(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.start_std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        with torch.no_grad():
            clean = F.log_softmax(model(x), dim=1)

        def kl_to_clean(logits: Tensor, rows=slice(None), step: int | None = None) -> Tensor:
            return F.kl_div(F.log_softmax(logits, dim=1), clean[rows], log_target=True, reduction="none").sum(dim=1)

        return self._single_run(model, x, kl_to_clean, mask, self.generator(x.device))
