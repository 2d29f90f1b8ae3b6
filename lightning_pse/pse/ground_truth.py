"""Ground-truth checks on data with object masks (the synthetic benchmark)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..stats import bootstrap_interval

# Pixel counts per image, pooled for ``concentration`` = (|m ∩ r| / |m|) / (|r| / |image|).
TRUTH_PAIRS = (
    ("suppression", "object"),
    ("promotion", "distractor"),
    ("promotion", "object"),
    ("suppression", "distractor"),
)
TRUTH_COLUMNS = (
    "pixels",
    "object",
    "distractor",
    "suppression",
    "promotion",
    *(f"{mask}_on_{region}" for mask, region in TRUTH_PAIRS),
)


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


def truth_counts(
    suppression: Tensor, promotion: Tensor, object_mask: Tensor, distractor_mask: Tensor
) -> dict[str, Tensor]:
    """Per-image pixel counts ``[B]`` (float64) of ``TRUTH_COLUMNS`` from the suppression- and
    promotion-dominated pixels and the two labelled regions, each ``[B, H, W]`` bool."""
    masks = {
        "suppression": suppression.bool(),
        "promotion": promotion.bool(),
        "object": object_mask.bool().to(suppression.device),
        "distractor": distractor_mask.bool().to(suppression.device),
    }
    per_image = lambda mask: mask.flatten(1).sum(dim=1).double()  # noqa: E731
    return {
        "pixels": per_image(torch.ones_like(masks["object"])),
        **{key: per_image(mask) for key, mask in masks.items()},
        **{f"{mask}_on_{region}": per_image(masks[mask] & masks[region]) for mask, region in TRUTH_PAIRS},
    }


def truth_summary(truth: dict[str, Tensor]) -> dict:
    """The ground-truth block of a report from per-image counts ``truth`` (``TRUTH_COLUMNS`` and
    ``index``, one row per fooled image): the pooled concentration of each (category, region) pair
    and the two specificity ratios with their bootstrap intervals."""
    totals = {key: float(values.sum()) for key, values in truth.items()}
    return {
        "num_images": len(truth["index"]),
        **{
            f"{mask}_on_{region}": concentration_of_counts(
                totals[f"{mask}_on_{region}"], totals[mask], totals[region], totals["pixels"]
            )
            for mask, region in TRUTH_PAIRS
        },
        "meaning": "share of a category's pixels inside the region over the region's area share (1 = chance)",
        "specificity": {
            "suppression_object_over_distractor": specificity(truth, "suppression", "object", "distractor"),
            "promotion_distractor_over_object": specificity(truth, "promotion", "distractor", "object"),
            "meaning": "concentration on the region the mechanism should prefer over that on the other "
            "(1 = no preference); 95 % paired bootstrap over images",
        },
    }


def specificity(truth: dict[str, Tensor], mask: str, preferred: str, other: str, seed: int = 0) -> dict:
    """How much more a PSE category sits on one region than on the other, from per-image pixel
    counts ``truth`` (``TRUTH_COLUMNS``): ``(Σ|m ∩ a| / Σ|a|) / (Σ|m ∩ b| / Σ|b|)`` (the ratio of
    the two concentrations; the category's and the image's sizes cancel), ``{value, ci95, n}`` with
    a 95 % bootstrap interval over images (2000 resamples, seeded); value None when the category
    never touches ``other``."""

    def ratio(c: dict[str, Tensor]) -> float:
        inside_other = c[f"{mask}_on_{other}"].sum() / c[other].sum()
        if inside_other <= 0:
            return float("nan")
        return float((c[f"{mask}_on_{preferred}"].sum() / c[preferred].sum()) / inside_other)

    columns = {k: truth[k] for k in (f"{mask}_on_{preferred}", f"{mask}_on_{other}", preferred, other)}
    value = ratio(columns)
    return {
        "value": None if value != value else value,
        "ci95": bootstrap_interval(ratio, columns, seed=seed),
        "n": len(truth["index"]),
    }
