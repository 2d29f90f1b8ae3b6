"""Ground-truth checks on data with object masks (the synthetic benchmark)."""

from __future__ import annotations

from torch import Tensor


def concentration(mask: Tensor, region: Tensor) -> float:
    """How much more of ``mask``'s pixels lie in ``region`` than the region's area share would give:
    ``(|mask ∩ region| / |mask|) / (|region| / |image|)`` pooled over the batch (1 = chance).
    Both ``[B, H, W]`` bool; NaN when ``mask`` or ``region`` is empty."""
    region = region.bool().to(mask.device)
    area = region.float().mean().item()
    total = mask.sum().item()
    if total == 0 or area == 0:
        return float("nan")
    return ((mask & region).sum().item() / total) / area
