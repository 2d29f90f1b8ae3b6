"""Promotion and suppression of each pixel group (``docs/method.md`` §1).

For clean ``x``, adversarial ``x' = x + δ``, true label ``t0`` and target ``t``, and ``δ_G`` the
perturbation restricted to group ``G`` (all channels):

- promotion   ``P_G = Z_t(x + δ_G) − Z_t(x)``
- suppression ``S_G = Z_t0(x) − Z_t0(x + δ_G)``

``ablation`` evaluates these exactly, one forward pass per (image, group) pair, all pairs of the
batch stacked into large forward passes of at most ``max_batch`` images; groups where ``δ`` is
zero have no effect and are not evaluated. ``gradient`` is the first-order estimate
``P_G = Σ_{j∈G} ∂Z_t/∂x_j(x) · δ_j`` and ``S_G = −Σ_{j∈G} ∂Z_t0/∂x_j(x) · δ_j`` from two backward
passes. On a model linear in its input the two agree exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups import GroupGrid

ESTIMATORS = ("ablation", "gradient")


def _pick(logits: Tensor, labels: Tensor) -> Tensor:
    return logits.gather(1, labels[:, None]).squeeze(1)


def group_energy(grid: GroupGrid, delta: Tensor) -> Tensor:
    """``‖δ_G‖²`` per group ``[B, G]``."""
    return grid.unfold(delta).pow(2).sum(dim=2)


def ablation_effects(
    model: nn.Module,
    x: Tensor,
    delta: Tensor,
    y: Tensor,
    target: Tensor,
    grid: GroupGrid,
    max_batch: int = 1024,
) -> tuple[Tensor, Tensor]:
    """Exact ``(P, S)``, each ``[B, G]``; pairs with ``‖δ_G‖² = 0`` get 0 without a forward pass."""
    b, c, h, w = x.shape
    with torch.no_grad():
        clean = model(x)
        base_t, base_t0 = _pick(clean, target), _pick(clean, y)
        promotion = torch.zeros(b, grid.num_groups, device=x.device, dtype=clean.dtype)
        suppression = torch.zeros_like(promotion)
        masks = _group_masks(grid, x.device, x.dtype)
        pairs = (group_energy(grid, delta) > 0).nonzero()  # [N, 2] (image, group)
        for start in range(0, pairs.shape[0], max_batch):
            img, grp = pairs[start : start + max_batch].unbind(1)
            logits = model(x[img] + delta[img] * masks[grp])
            promotion[img, grp] = _pick(logits, target[img]) - base_t[img]
            suppression[img, grp] = base_t0[img] - _pick(logits, y[img])
    return promotion, suppression


def _group_masks(grid: GroupGrid, device, dtype) -> Tensor:
    """``[G, 1, H, W]``: 1 on the pixels of each group."""
    onehot = torch.eye(grid.num_groups, device=device, dtype=dtype)  # [G, G]
    spread = onehot[:, :, None].expand(-1, -1, grid.size * grid.size)  # [G(batch), G, size²]
    return grid.fold(spread, 1)


def gradient_effects(
    model: nn.Module,
    x: Tensor,
    delta: Tensor,
    y: Tensor,
    target: Tensor,
    grid: GroupGrid,
) -> tuple[Tensor, Tensor]:
    """First-order ``(P, S)``, each ``[B, G]``, from the input gradients of ``Z_t`` and ``Z_t0``."""
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        logits = model(xr)
        (grad_t,) = torch.autograd.grad(_pick(logits, target).sum(), xr, retain_graph=True)
        (grad_t0,) = torch.autograd.grad(_pick(logits, y).sum(), xr)
    promotion = grid.unfold(grad_t * delta).sum(dim=2)
    suppression = -grid.unfold(grad_t0 * delta).sum(dim=2)
    return promotion, suppression


def whole_image_effects(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(P, S)`` ``[B]`` of the whole perturbation: ``Z_t(x') − Z_t(x)``, ``Z_t0(x) − Z_t0(x')``."""
    with torch.no_grad():
        clean, adv = model(x), model(x_adv)
    return _pick(adv, target) - _pick(clean, target), _pick(clean, y) - _pick(adv, y)
