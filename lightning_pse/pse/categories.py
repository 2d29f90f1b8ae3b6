"""PSR, group categories and image types (``docs/method.md`` §1; τ, ρ, ε and the energy rule are
our choices, with the defaults given there)."""

from __future__ import annotations

from enum import IntEnum

import torch
from torch import Tensor

from .settings import DEFAULT_PSE


class Category(IntEnum):
    """What a group of the perturbation (or an image) is dominated by."""

    INACTIVE = 0
    SUPPRESSION = 1
    PROMOTION = 2
    BALANCED = 3


ACTIVE_CATEGORIES = (Category.SUPPRESSION, Category.PROMOTION, Category.BALANCED)


def psr(promotion: Tensor, suppression: Tensor, eps: float = 1e-12) -> Tensor:
    """Promotion–suppression ratio ``log2(max(P, ε) / max(S, ε))``, elementwise."""
    return torch.log2(promotion.clamp(min=eps)) - torch.log2(suppression.clamp(min=eps))


def promotion_fraction(promotion: Tensor, suppression: Tensor) -> Tensor:
    """``P⁺ / (P⁺ + S⁺)`` elementwise, ``x⁺ = max(x, 0)``: a bounded PSR (0 all suppression, 1/2
    balanced, 1 all promotion); NaN where neither effect is positive. Unlike ``psr`` it has no clamp,
    so one effect at or below 0 gives 0 or 1, not ±40."""
    p, s = promotion.clamp(min=0), suppression.clamp(min=0)
    total = p + s
    return torch.where(total > 0, p / total.clamp(min=torch.finfo(total.dtype).tiny), torch.nan)


def clamped(promotion: Tensor, suppression: Tensor, eps: float = 1e-12) -> Tensor:
    """Bool: ``psr`` hit its clamp (``P ≤ ε`` or ``S ≤ ε``), so its value says only which side won."""
    return (promotion <= eps) | (suppression <= eps)


def categorize(
    promotion: Tensor,
    suppression: Tensor,
    energy: Tensor,
    tau: float = DEFAULT_PSE.tau,
    rho: float = DEFAULT_PSE.rho,
    eps: float = DEFAULT_PSE.eps,
) -> Tensor:
    """Category codes ``[B, G]`` from ``P``, ``S`` and ``‖δ_G‖²``, each ``[B, G]``.

    Inactive: ``‖δ_G‖² ≤ 1e-12``, or the larger effect ``max(P⁺, S⁺)`` is zero or below ``ρ``
    times the largest group effect of the same image. Active groups: promotion-dominated when
    ``PSR > τ``, suppression-dominated when ``PSR < −τ``, balanced otherwise.
    """
    effect = torch.maximum(promotion.clamp(min=0), suppression.clamp(min=0))
    strongest = effect.amax(dim=1, keepdim=True)
    active = (energy > 1e-12) & (effect > 0) & (effect >= rho * strongest)
    ratio = psr(promotion, suppression, eps)
    category = torch.full_like(promotion, int(Category.BALANCED), dtype=torch.long)
    category[ratio > tau] = int(Category.PROMOTION)
    category[ratio < -tau] = int(Category.SUPPRESSION)
    category[~active] = int(Category.INACTIVE)
    return category


def energy_shares(category: Tensor, energy: Tensor) -> Tensor:
    """``[B, 4]``: each category's share of the perturbation energy over the active groups
    (indexed by ``Category``; the INACTIVE column is 0). Rows with no active group are all 0.
    """
    b = category.shape[0]
    active = category != int(Category.INACTIVE)
    sums = torch.zeros(b, len(Category), device=energy.device, dtype=energy.dtype)
    sums.scatter_add_(1, category, energy * active)
    total = sums.sum(dim=1, keepdim=True)
    return torch.where(total > 0, sums / total.clamp(min=1e-30), torch.zeros_like(sums))


def image_type(shares: Tensor) -> Tensor:
    """``[B]``: the active category with the largest energy share; INACTIVE without active groups."""
    best = shares.argmax(dim=1)
    return torch.where(shares.sum(dim=1) > 0, best, torch.full_like(best, int(Category.INACTIVE)))
