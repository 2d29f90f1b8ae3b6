"""StrAttack (Xu et al., "Structured Adversarial Attack: Towards General Implementation and Better
Interpretability", ICLR 2019): group-sparse perturbations by ADMM."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups import GroupGrid, default_group_size
from .base import Attack, input_gradient
from .const_search import BestAdversarial, ConstSearch
from .cw import CW
from .losses import attack_margin


class StrAttack(Attack):
    """Structured attack: minimise over ``δ``

        ``c · max(m(x + δ) + κ, 0) + ‖δ‖₂² + τ Σ_G ‖δ_G‖₂``   subject to ``x + δ ∈ [0, 1]``,

    ``m`` the signed margin to success and ``G`` the sliding-window groups of
    ``groups.GroupGrid`` (all channels), by ADMM on the split ``z = δ = w = y_G``:

    - ``δ ← ρ(z − u/ρ) / (2 + ρ)`` (the ℓ2 term),
    - ``w ← clip(z − v/ρ, −x, 1 − x)`` (the box),
    - ``y_G ← (1 − (τ/ρ)/‖a_G‖₂)₊ a_G`` with ``a_G = z_G − s_G/ρ`` (group soft-threshold, one
      copy of the variables per group, so overlapping groups are exact),
    - ``z ←`` a linearised step on the loss with proximal weight ``η_k = √(k+1)/lr``:
      ``(η + 2ρ + ρ n_j) z_j = η z_j − c ∇_j + ρ(δ + u/ρ)_j + ρ(w + v/ρ)_j + ρ Σ_{G∋j}(y_G + s_G/ρ)_j``,
      ``n_j`` the number of groups holding pixel j,
    - dual ascent on ``u, v, s``;

    with a per-sample binary search over ``c``. Each iterate is read as the group-sparse
    perturbation ``z`` restricted to the groups where ``y_G ≠ 0`` (clipped to the box), and the
    successful one of smallest ℓ2 is kept. With ``refine=True`` (the paper's refinement step) a
    C&W ℓ2 attack then re-optimises on that fixed support, and its result is kept where it
    succeeds with less ℓ2 distortion.

    Args:
        group_size: side of the group windows (None: 2 up to 64 px, 13 above).
        stride: step between group windows (None: ``group_size``).
        tau: group-sparsity weight τ (default 2.0).
        rho: ADMM penalty ρ (default 1.0).
        lr: scale of the linearised step, ``η_k = √(k+1)/lr`` (default 2.0).
        steps: ADMM iterations per binary-search step (default 200).
        binary_search_steps: as in C&W.
        initial_const: as in C&W.
        confidence: as in C&W.
        refine: re-optimise on the found support (default True) with ``refine_steps`` C&W steps.
        targeted: see ``Attack``.
        seed: see ``Attack``.
        target_rule: see ``Attack``.

    The ADMM settings τ, ρ, lr, steps and the binary-search defaults are our choices for images
    in [0, 1]; the ADMM scheme and the groups follow the paper.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1]; ``y``, ``target`` ``[B]``; returns ``x_adv``
    (``x`` itself where no adversarial example was found).

    Example::

        x_adv = StrAttack(targeted=True)(model, x, y, target=t)
    """

    bounded = False  # minimal group-sparse attack: no ε
    norm = "l2"  # the distortion it minimises

    def __init__(
        self,
        group_size: int | None = None,
        stride: int | None = None,
        tau: float = 2.0,
        rho: float = 1.0,
        lr: float = 2.0,
        steps: int = 200,
        binary_search_steps: int = 5,
        initial_const: float = 1.0,
        confidence: float = 0.0,
        refine: bool = True,
        refine_steps: int = 100,
        targeted: bool = False,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        self.group_size = group_size
        self.stride = stride
        self.tau = tau
        self.rho = rho
        self.lr = lr
        self.steps = steps
        self.binary_search_steps = binary_search_steps
        self.initial_const = initial_const
        self.confidence = confidence
        self.refine = refine
        self.refine_steps = refine_steps

    def grid(self, x: Tensor) -> GroupGrid:
        size = self.group_size or default_group_size(max(x.shape[-2:]))
        return GroupGrid(x.shape[-2], x.shape[-1], size, self.stride)

    def budget(self) -> int:
        """ADMM steps per constant, then the C&W refinement's 3 constants × ``refine_steps``."""
        return self.binary_search_steps * self.steps + (3 * self.refine_steps if self.refine else 0)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        grid = self.grid(x)
        search = ConstSearch(x.shape[0], self.initial_const, x.device, x.dtype)
        best = BestAdversarial(x)
        support = torch.zeros_like(x[:, :1])
        for _ in range(self.binary_search_steps):
            succeeded_now = self._admm(model, x, y, target, mask, grid, search.const, best, support)
            search.update(succeeded_now)
        if self.refine and best.found.any():
            self._refine(model, x, y, target, mask, best, support)
        return best.x

    def _admm(
        self, model, x, y, target, mask, grid: GroupGrid, const: Tensor, best: BestAdversarial, support: Tensor
    ) -> Tensor:
        rho, channels = self.rho, x.shape[1]
        coverage = grid.coverage(x.device, x.dtype)
        z = torch.zeros_like(x)
        u, v = torch.zeros_like(x), torch.zeros_like(x)
        s = torch.zeros_like(grid.unfold(x))
        loss = lambda logits: const * (attack_margin(logits, y, target) + self.confidence).clamp(min=0)  # noqa: E731
        succeeded_now = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for k in range(self.steps):
            delta = rho * (z - u / rho) / (2 + rho)
            w = (z - v / rho).clamp(-x, 1 - x)
            a = grid.unfold(z) - s / rho
            group_y = (1 - (self.tau / rho) / (a.norm(dim=2, keepdim=True) + 1e-12)).clamp(min=0) * a
            grad, _, _ = input_gradient(model, x + z, loss, self.eot_samples)
            if mask is not None:
                grad = grad * mask
            eta = (k + 1) ** 0.5 / self.lr
            numerator = (
                eta * z
                - grad
                + rho * (delta + u / rho)
                + rho * (w + v / rho)
                + rho * grid.fold(group_y + s / rho, channels)
            )
            z = numerator / (eta + 2 * rho + rho * coverage)
            if mask is not None:
                z = z * mask
            u = u + rho * (delta - z)
            v = v + rho * (w - z)
            s = s + rho * (group_y - grid.unfold(z))

            active = grid.fold((group_y.norm(dim=2, keepdim=True) > 0).expand_as(group_y).to(x.dtype), channels)
            candidate = (x + z * (active > 0)).clamp(0, 1)
            with torch.no_grad():
                ok = attack_margin(model(candidate), y, target) + self.confidence < 0
            distance = (candidate - x).flatten(1).norm(dim=1)
            improves = ok & (distance < best.distance)
            support.copy_(torch.where(improves.view(-1, 1, 1, 1), (active[:, :1] > 0).to(x.dtype), support))
            best.update(candidate, distance, ok)
            succeeded_now |= ok
        return succeeded_now

    def _refine(self, model, x, y, target, mask, best: BestAdversarial, support: Tensor) -> None:
        """Re-optimise with C&W ℓ2 on the support of the best group-sparse perturbation."""
        fixed = support if mask is None else support * mask
        cw = CW(
            confidence=self.confidence,
            steps=self.refine_steps,
            binary_search_steps=3,
            initial_const=1.0,
            targeted=self.targeted,
            abort_early=True,
        )
        refined = cw.perturb(model, x, y, target, fixed)
        with torch.no_grad():
            ok = attack_margin(model(refined), y, target) + self.confidence < 0
        best.update(refined, (refined - x).flatten(1).norm(dim=1), ok & best.found)
