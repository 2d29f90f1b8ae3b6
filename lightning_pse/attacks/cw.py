"""Carlini & Wagner's ℓ2 attack ("Towards Evaluating the Robustness of Neural Networks", S&P 2017)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import check_range
from ..progress import step_done
from .base import Attack
from .const_search import BestAdversarial, ConstSearch
from .losses import attack_margin


class CW(Attack):
    """C&W ℓ2: minimise ``‖δ‖₂² + c · max(m(x + δ) + κ, 0)`` over ``x + δ = (tanh(w) + 1)/2``
    with Adam, ``m`` the signed margin to success (``losses.attack_margin``: untargeted
    ``Z_y − max_{j≠y} Z_j``, targeted ``max_{j≠t} Z_j − Z_t``), and a per-sample binary search
    over ``c``. Returns, per sample, the successful example (margin below ``−κ``) of smallest ℓ2
    distortion, or ``x`` itself where none was found (unbounded attack: no ε).

    Defaults are Carlini & Wagner's: 9 binary-search steps from ``c = 1e-3``, up to 10 000 Adam
    steps at learning rate 0.01, stopping a search step early once the loss stalls (no 0.01 %
    decrease over a tenth of the steps). Lower ``steps`` for speed.

    Args:
        confidence: κ, the margin demanded beyond the decision boundary.
        steps: Adam iterations per binary-search step.
        lr: Adam learning rate.
        binary_search_steps: outer steps over ``c``.
        initial_const: the first ``c``.
        abort_early: stop a search step when the loss stalls.
        stop_radius: for robust accuracy within an ℓ2 radius: a sample fooled within
            ``stop_radius`` leaves the search (its smaller perturbations are not sought). ``None``
            (default): search every sample to the end.
        targeted: see ``Attack``.
        seed: see ``Attack``.
        target_rule: see ``Attack``.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1]; ``y``, ``target`` ``[B]``; returns ``x_adv``.

    Example::

        x_adv = CW(steps=100, binary_search_steps=5)(model, x, y)
    """

    bounded = False  # minimal-ℓ2 attack: no ε
    norm = "l2"  # the distortion it minimises

    def __init__(
        self,
        confidence: float = 0.0,
        steps: int = 10000,
        lr: float = 0.01,
        binary_search_steps: int = 9,
        initial_const: float = 1e-3,
        abort_early: bool = True,
        stop_radius: float | None = None,
        targeted: bool = False,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        check_range("steps", steps, low=1)
        check_range("binary_search_steps", binary_search_steps, low=1)
        check_range("lr", lr, low=0)
        check_range("initial_const", initial_const, low=0)
        if stop_radius is not None:
            check_range("stop_radius", stop_radius, low=0)
        self.stop_radius = stop_radius
        self.confidence = confidence
        self.steps = steps
        self.lr = lr
        self.binary_search_steps = binary_search_steps
        self.initial_const = initial_const
        self.abort_early = abort_early

    def budget(self) -> int:
        return self.binary_search_steps * self.steps

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        search = ConstSearch(x.shape[0], self.initial_const, x.device, x.dtype)
        best = BestAdversarial(x)
        w_clean = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))
        for _ in range(self.binary_search_steps):
            # Rows still searched: all, or those not yet fooled within stop_radius.
            rows = (
                (best.distance > self.stop_radius).nonzero().squeeze(1)
                if self.stop_radius is not None
                else torch.arange(x.shape[0], device=x.device)
            )
            if rows.numel() == 0:
                break
            x_rows, y_rows = x[rows], y[rows]
            t_rows, m_rows = None if target is None else target[rows], None if mask is None else mask[rows]
            const = search.const[rows]
            w = w_clean[rows].clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=self.lr)
            succeeded_now = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            previous = float("inf")
            for step in range(self.steps):
                x_adv = (torch.tanh(w) + 1) / 2
                if m_rows is not None:
                    x_adv = x_rows + m_rows * (x_adv - x_rows)
                logits = model(x_adv)
                distance = (x_adv - x_rows).flatten(1).pow(2).sum(dim=1)
                margin = attack_margin(logits, y_rows, t_rows)
                loss = (distance + const * (margin + self.confidence).clamp(min=0)).sum()
                (w.grad,) = torch.autograd.grad(loss, w)  # only w: parameter .grad stays untouched
                step_done()
                optimizer.step()
                with torch.no_grad():
                    ok = margin + self.confidence < 0
                    best.update_rows(rows, x_adv.detach(), distance.detach().sqrt(), ok)
                    succeeded_now[rows] |= ok
                if self.abort_early and (step + 1) % max(self.steps // 10, 1) == 0:
                    if loss.item() > previous * 0.9999:
                        break
                    previous = loss.item()
            search.update(succeeded_now)
        return best.x
