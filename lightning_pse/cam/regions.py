"""Binary regions from maps, and how regions and perturbations overlap (``docs/method.md`` §2)."""

from __future__ import annotations

import torch
from torch import Tensor

from .settings import DEFAULT_CAM


def binarize(maps: Tensor, threshold: float = DEFAULT_CAM.threshold, top_percent: float | None = None) -> Tensor:
    """``[B, H, W]`` bool region: ``M ≥ threshold·max M`` per image (CAM's localisation rule,
    default 0.2), or with ``top_percent`` the ``top_percent`` % highest pixels of each image."""
    if top_percent is None:
        return maps >= threshold * maps.amax(dim=(1, 2), keepdim=True)
    if not 0 < top_percent <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent}")
    flat = maps.flatten(1)
    k = max(1, round(flat.shape[1] * top_percent / 100))
    cut = flat.topk(k, dim=1).values[:, -1:]
    return (flat >= cut).view_as(maps)


def interpretability_score(delta: Tensor, region: Tensor) -> Tensor:
    """``IS(δ) = ‖B ∘ δ‖₂ / ‖δ‖₂`` per image ``[B]`` (StrAttack) for ``δ`` ``[B, C, H, W]`` and a
    region ``[B, H, W]`` or ``[B, C, H, W]``; NaN where ``δ = 0``."""
    region = region.unsqueeze(1) if region.dim() == 3 else region
    inside = (delta * region).flatten(1).norm(dim=1)
    total = delta.flatten(1).norm(dim=1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.full_like(total, float("nan")))


def iou(a: Tensor, b: Tensor) -> Tensor:
    """Intersection over union of two ``[B, H, W]`` bool regions, per image ``[B]`` (NaN if both empty)."""
    inter = (a & b).flatten(1).sum(dim=1).float()
    union = (a | b).flatten(1).sum(dim=1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, float("nan")))


def pointing_game(maps: Tensor, region: Tensor) -> Tensor:
    """``[B]`` bool: the map's maximum pixel lies in ``region`` (both ``[B, H, W]``)."""
    peak = maps.flatten(1).argmax(dim=1)
    return region.flatten(1).gather(1, peak[:, None]).squeeze(1)


def shifted_regions(region: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each image's region shifted cyclically by a random offset ``[B, H, W]``: same area and shape,
    random place (the baseline region of the agreement scores; our choice)."""
    b, h, w = region.shape
    dy = torch.randint(h, (b, 1), generator=generator).to(region.device)
    dx = torch.randint(w, (b, 1), generator=generator).to(region.device)
    rows = (torch.arange(h, device=region.device) - dy) % h  # [B, H]: source row of each output row
    cols = (torch.arange(w, device=region.device) - dx) % w
    return region[torch.arange(b, device=region.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
