"""The adversarial saliency map (ASM) of StrAttack and the interpretability score of a
perturbation against it (``docs/method.md`` §2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.state import eval_mode
from .regions import interpretability_score


def adversarial_saliency(model: nn.Module, x: Tensor, y: Tensor, target: Tensor, sign_rule: bool = True) -> Tensor:
    """``ASM(x, t)_i = ∂Z_t/∂x_i · |∂Z_t0/∂x_i|`` ``[B, C, H, W]``; with ``sign_rule`` (default) 0
    where ``∂Z_t/∂x_i < 0`` or ``∂Z_t0/∂x_i > 0`` (pixels that help the target and hurt the true class)."""
    y, target = y.to(x.device).long(), target.to(x.device).long()
    with eval_mode(model):
        xr = x.detach().requires_grad_(True)
        logits = model(xr)
        (g_target,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), xr, retain_graph=True)
        (g_true,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xr)
    asm = g_target * g_true.abs()
    if sign_rule:
        asm = torch.where((g_target < 0) | (g_true > 0), torch.zeros_like(asm), asm)
    return asm


def saliency_region(asm: Tensor, percentile: float = 80.0) -> Tensor:
    """``[B, C, H, W]`` bool: ASM above its ``percentile``-th percentile per image (default 80, our
    choice within StrAttack's 50–90)."""
    flat = asm.flatten(1)
    cut = torch.quantile(flat, percentile / 100, dim=1, keepdim=True)
    return (flat > cut).view_as(asm)


def saliency_agreement(
    model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, target: Tensor, percentile: float = 80.0
) -> Tensor:
    """``IS(δ)`` ``[B]`` of ``δ = x_adv − x`` against its ASM region (StrAttack's interpretability
    score: the share of the perturbation's ℓ2 energy on the pixels the saliency map ranks in its top
    ``100 − percentile`` %); NaN where ``δ = 0``."""
    return interpretability_score(x_adv - x, saliency_region(adversarial_saliency(model, x, y, target), percentile))
