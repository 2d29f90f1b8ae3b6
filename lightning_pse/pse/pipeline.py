"""``analyze``: the pixel-level promotion–suppression analysis of a batch of adversarial examples."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..attacks import Attack, AttackResult
from ..errors import UnknownNameError, UserInputError
from ..groups import GroupGrid, default_group_size
from ..models.state import eval_mode
from .categories import Category, categorize, energy_shares, image_type, psr
from .effects import ESTIMATORS, ablation_effects, gradient_effects, group_energy, whole_image_effects
from .settings import DEFAULT_PSE


@dataclass
class PSEResult:
    """Per-group maps ``[B, Gh, Gw]``: ``promotion``, ``suppression``, ``psr``, ``category``
    (``Category`` codes) and ``energy`` (``‖δ_G‖²``); per image ``[B]``: ``image_type`` (the
    active category with the largest energy share), ``image_promotion``, ``image_suppression``
    and ``image_psr`` of the whole perturbation; ``shares`` ``[B, 4]``: energy share of each
    category (indexed by ``Category``) over the active groups.
    """

    promotion: Tensor
    suppression: Tensor
    psr: Tensor
    category: Tensor
    energy: Tensor
    image_type: Tensor
    image_promotion: Tensor
    image_suppression: Tensor
    image_psr: Tensor
    shares: Tensor
    grid: GroupGrid
    estimator: str

    def to_pixels(self, values: Tensor, reduce: str = "max") -> Tensor:
        """Group values ``[B, Gh, Gw]`` → pixels ``[B, H, W]`` (``reduce`` where groups overlap)."""
        return self.grid.to_pixels(values, reduce)

    def category_mask(self, category: Category) -> Tensor:
        """``[B, H, W]`` bool: pixels in at least one group of ``category``."""
        return self.to_pixels((self.category == int(category)).to(torch.float32)) > 0


def analyze(
    model: nn.Module,
    x: Tensor,
    x_adv: Tensor,
    y: Tensor,
    target: Tensor,
    group_size: int | None = DEFAULT_PSE.group_size,
    stride: int | None = DEFAULT_PSE.stride,
    estimator: str = DEFAULT_PSE.estimator,
    tau: float = DEFAULT_PSE.tau,
    rho: float = DEFAULT_PSE.rho,
    eps: float = DEFAULT_PSE.eps,
    max_batch: int = DEFAULT_PSE.max_batch,
) -> PSEResult:
    """Promotion, suppression, PSR and categories of every ``group_size``² group (stride
    ``stride``, default ``group_size``) of ``δ = x_adv − x``.

    Args:
        model: the classifier (run in eval mode; its state is restored).
        x: clean images ``[B, C, H, W]`` in [0, 1].
        x_adv: adversarial images ``[B, C, H, W]`` in [0, 1].
        y: true labels ``t0`` ``[B]``.
        target: the target ``t`` ``[B]`` (for an untargeted attack, the label predicted on ``x_adv``).
        group_size: window side; ``None`` picks ``default_group_size`` of the image (2 up to 64 px, else 13).
        stride: window step (None: ``group_size``).
        estimator: ``ablation`` (exact) or ``gradient`` (first order).
        tau: category threshold τ (``PSESettings`` documents every default;
            ``analyze(..., **settings.kwargs())`` passes them all).
        rho: inactivity fraction ρ.
        eps: PSR floor ε.
        max_batch: largest forward pass of the ablation estimator (its memory budget).
    """
    if estimator not in ESTIMATORS:
        raise UnknownNameError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if x.shape != x_adv.shape or x.dim() != 4:
        raise UserInputError(
            f"x and x_adv must be [B, C, H, W] of one shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}"
        )
    if not (torch.isfinite(x).all() and torch.isfinite(x_adv).all()):
        raise UserInputError("images contain NaN or Inf values")
    x, x_adv = x.detach(), x_adv.detach()
    y, target = y.to(x.device).long(), target.to(x.device).long()
    grid = GroupGrid(x.shape[-2], x.shape[-1], group_size or default_group_size(max(x.shape[-2:])), stride)
    delta = x_adv - x
    with eval_mode(model):
        if estimator == "ablation":
            promotion, suppression = ablation_effects(model, x, delta, y, target, grid, max_batch)
        else:
            promotion, suppression = gradient_effects(model, x, delta, y, target, grid)
        image_p, image_s = whole_image_effects(model, x, x_adv, y, target)
    energy = group_energy(grid, delta).to(promotion.dtype)
    category = categorize(promotion, suppression, energy, tau, rho, eps)
    shares = energy_shares(category, energy)
    shape = (x.shape[0], *grid.shape)
    return PSEResult(
        promotion=promotion.view(shape),
        suppression=suppression.view(shape),
        psr=psr(promotion, suppression, eps).view(shape),
        category=category.view(shape),
        energy=energy.view(shape),
        image_type=image_type(shares),
        image_promotion=image_p,
        image_suppression=image_s,
        image_psr=psr(image_p, image_s, eps),
        shares=shares,
        grid=grid,
        estimator=estimator,
    )


def analyze_attack(
    model: nn.Module, attack: Attack, x: Tensor, y: Tensor, target: Tensor | None = None, **analyze_kwargs
) -> tuple[AttackResult, PSEResult | None]:
    """Attack ``x`` and analyse the adversarial examples that succeed.

    ``t`` is the attack's target for a targeted attack, else the label predicted on ``x_adv``
    (``docs/method.md`` notation). Returns the ``AttackResult`` of the whole batch and the ``PSEResult``
    of its successful samples (``result.success`` selects them), or ``None`` when none succeeded.
    ``analyze_kwargs`` go to ``analyze`` (group size, estimator, τ, ρ, ...).
    """
    result = attack.run(model, x, y, target)
    if not result.success.any():
        return result, None
    keep = result.success
    pse = analyze(model, x[keep], result.x_adv[keep], y.to(x.device)[keep], result.aim[keep], **analyze_kwargs)
    return result, pse
