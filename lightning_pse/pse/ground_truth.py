"""Ground-truth checks on data with object masks (the synthetic benchmark)."""

from __future__ import annotations

from torch import Tensor


def concentration(mask: Tensor, region: Tensor) -> float:
    """How much more of ``mask``'s pixels lie in ``region`` than the region's area share would give:
    ``(|mask ∩ region| / |mask|) / (|region| / |image|)`` pooled over the batch (1 = chance).
    Both ``[B, H, W]`` bool; NaN when ``mask`` or ``region`` is empty."""
    region = region.bool().to(mask.device)
    return concentration_of_counts(
        float((mask & region).sum()), float(mask.sum()), float(region.sum()), float(region.numel())
    )


def concentration_of_counts(inside: float, mask: float, region: float, pixels: float) -> float:
    """``concentration`` from pooled pixel counts: ``inside`` = |mask ∩ region|, ``mask`` = |mask|,
    ``region`` = |region|, ``pixels`` = all pixels (counts add over batches and DDP ranks)."""
    if mask == 0 or region == 0:
        return float("nan")
    return (inside / mask) / (region / pixels)
