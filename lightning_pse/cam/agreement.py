"""Where the perturbation acts against the regions the network uses (``docs/method.md`` §2): CAM
agreement of the PSE categories, CAM shift, localisation against ground truth, and CAM-guided
attacks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..attacks import Attack, AttackResult
from ..errors import UnknownNameError
from ..models.state import eval_mode
from ..pse import Category, PSEResult
from .methods import CAM_METHODS
from .regions import binarize, interpretability_score, iou, pointing_game, shifted_regions
from .settings import DEFAULT_CAM


def cam_method(name: str):
    """The map function called ``name`` (``cam``, ``grad_cam``, ``grad_cam_pp``)."""
    if name not in CAM_METHODS:
        raise UnknownNameError(f"unknown CAM method {name!r}; choose one of {', '.join(CAM_METHODS)}")
    return CAM_METHODS[name]


def class_region(
    model: nn.Module,
    x: Tensor,
    classes: Tensor,
    method: str = DEFAULT_CAM.method,
    layer=None,
    threshold: float = DEFAULT_CAM.threshold,
) -> Tensor:
    """``[B, H, W]`` bool: the binarised ``method`` map of ``classes`` on ``x``."""
    return binarize(cam_method(method)(model, x, classes, layer), threshold)


@dataclass
class CAMAgreement:
    """Per image ``[B]`` (NaN where a score is undefined, e.g. no suppression-dominated group):

    - ``agreement_suppression_true``: ``IS`` of the suppression-dominated part of ``δ`` against the
      true-class region of ``x``; ``baseline_suppression_true``: the same against randomly shifted
      copies of that region (equal area and shape), averaged over draws;
    - ``agreement_promotion_target`` / ``baseline_promotion_target``: the promotion-dominated part
      against the target-class region of ``x_adv``;
    - ``other_suppression_true`` / ``other_promotion_target``: the same parts against the region of
      a third class (``other_class``: neither true nor target) on ``x`` / ``x_adv``, a baseline that
      also sits on the object, so a gain over it is "on the class's region", not "on the object"
      (NaN with fewer than 3 classes);
    - ``cam_shift``: IoU of the true-class region on ``x`` and on ``x_adv``.
    """

    agreement_suppression_true: Tensor
    baseline_suppression_true: Tensor
    agreement_promotion_target: Tensor
    baseline_promotion_target: Tensor
    other_suppression_true: Tensor
    other_promotion_target: Tensor
    cam_shift: Tensor


def other_class(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    """``[B]`` the class with the highest logit on the clean image ``logits`` ``[B, K]`` that is
    neither the true class ``y`` nor the ``target`` (**our choice**: the runner-up the network itself
    sees in the image); -1 where no third class exists (fewer than 3 classes)."""
    masked = logits.detach().clone().float()
    rows = torch.arange(len(y), device=logits.device)
    masked[rows, y] = -torch.inf
    masked[rows, target] = -torch.inf
    best = masked.argmax(dim=1)
    return torch.where(masked[rows, best].isfinite(), best, torch.full_like(best, -1))


def cam_agreement(
    model: nn.Module,
    x: Tensor,
    x_adv: Tensor,
    y: Tensor,
    target: Tensor,
    pse: PSEResult,
    method: str = DEFAULT_CAM.method,
    layer=None,
    threshold: float = DEFAULT_CAM.threshold,
    draws: int = DEFAULT_CAM.draws,
    seed: int = 0,
) -> CAMAgreement:
    """CAM agreement of the PSE categories of ``pse`` (computed on the same ``x``, ``x_adv``)."""
    delta = x_adv - x
    true_region = class_region(model, x, y, method, layer, threshold)
    target_region = class_region(model, x_adv, target, method, layer, threshold)
    true_on_adv = class_region(model, x_adv, y, method, layer, threshold)
    suppression = delta * pse.category_mask(Category.SUPPRESSION).unsqueeze(1)
    promotion = delta * pse.category_mask(Category.PROMOTION).unsqueeze(1)
    generator = torch.Generator().manual_seed(seed)
    with eval_mode(model), torch.no_grad():
        third = other_class(model(x), y, target)
    exists = third >= 0
    third = third.clamp(min=0)  # any class where none exists: its scores become NaN below
    nan = torch.full_like(exists, torch.nan, dtype=delta.dtype)

    def against_other(part: Tensor, image: Tensor) -> Tensor:
        score = interpretability_score(part, class_region(model, image, third, method, layer, threshold))
        return torch.where(exists, score, nan)

    def baseline(part: Tensor, region: Tensor) -> Tensor:
        return torch.stack(
            [interpretability_score(part, shifted_regions(region, generator)) for _ in range(draws)]
        ).mean(dim=0)

    return CAMAgreement(
        agreement_suppression_true=interpretability_score(suppression, true_region),
        baseline_suppression_true=baseline(suppression, true_region),
        agreement_promotion_target=interpretability_score(promotion, target_region),
        baseline_promotion_target=baseline(promotion, target_region),
        other_suppression_true=against_other(suppression, x),
        other_promotion_target=against_other(promotion, x_adv),
        cam_shift=iou(true_region, true_on_adv),
    )


def localization(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    object_mask: Tensor,
    method: str = DEFAULT_CAM.method,
    layer=None,
    threshold: float = DEFAULT_CAM.threshold,
) -> tuple[Tensor, Tensor]:
    """``(IoU [B], pointing hit [B] bool)`` of the true-class map against a ground-truth mask ``[B, H, W]``."""
    maps = cam_method(method)(model, x, y, layer)
    mask = object_mask.bool().to(maps.device)
    return iou(binarize(maps, threshold), mask), pointing_game(maps, mask)


@dataclass
class GuidedAttack:
    """The attack restricted to the union of the true- and target-class regions (``guided``),
    beside the unrestricted attack (``full``), and the region ``[B, H, W]`` used."""

    full: AttackResult
    guided: AttackResult
    region: Tensor


def cam_guided_attack(
    attack: Attack,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    target: Tensor | None = None,
    method: str = DEFAULT_CAM.method,
    layer=None,
    threshold: float = DEFAULT_CAM.threshold,
    full: AttackResult | None = None,
) -> GuidedAttack:
    """Re-run ``attack`` with ``mask`` = true-class region ∪ target-class region (both on ``x``;
    the target is the attack's, or for an untargeted attack the class the unrestricted attack reached).
    ``full``: the unrestricted run of ``attack`` on these inputs when already done (not re-run)."""
    full = full if full is not None else attack.run(model, x, y, target)
    region = class_region(model, x, y, method, layer, threshold) | class_region(
        model, x, full.aim, method, layer, threshold
    )
    guided = attack.run(model, x, y, full.target, mask=region)
    return GuidedAttack(full=full, guided=guided, region=region)
