"""torchmetrics accumulators of PSE shares: sums in metric states, so DDP syncs them."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from .categories import ACTIVE_CATEGORIES, Category, clamped, promotion_fraction
from .pipeline import PSEResult


class PSEShares(Metric):
    """Over all images passed to ``update`` (optionally only where ``include`` is true):

    - ``<category>_share``: fraction of images of each type (suppression / promotion / balanced;
      images without active groups count in ``inactive_share``),
    - ``<category>_energy``: mean energy share of each category,
    - ``mean_psr``: mean whole-image PSR (dominated by the ε clamp wherever one effect is ≤ 0),
    - ``promotion_fraction``: mean whole-image ``P⁺/(P⁺+S⁺)`` over the images with a positive effect
      (bounded; NaN when none), ``clamped_share``: share of images whose whole-image PSR is clamped,
    - ``num_images``.
    """

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("type_counts", default=torch.zeros(len(Category), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("energy_sums", default=torch.zeros(len(Category), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("psr_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("fraction_sum", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("fraction_count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("clamped_count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, result: PSEResult, include: Tensor | None = None) -> None:
        keep = torch.ones_like(result.image_type, dtype=torch.bool) if include is None else include.bool()
        types = result.image_type[keep]
        self.type_counts += torch.bincount(types, minlength=len(Category)).to(torch.float64)
        self.energy_sums += result.shares[keep].sum(dim=0).to(torch.float64)
        self.psr_sum += result.image_psr[keep].sum().to(torch.float64)
        self.count += keep.sum().to(torch.float64)
        p, s = result.image_promotion[keep], result.image_suppression[keep]
        fraction = promotion_fraction(p, s)
        self.fraction_sum += fraction.nan_to_num(0.0).sum().to(torch.float64)
        self.fraction_count += (~fraction.isnan()).sum().to(torch.float64)
        self.clamped_count += clamped(p, s).sum().to(torch.float64)

    def compute(self) -> dict[str, Tensor]:
        n = self.count.clamp(min=1)
        out = {f"{c.name.lower()}_share": self.type_counts[c] / n for c in Category}
        out.update({f"{c.name.lower()}_energy": self.energy_sums[c] / n for c in ACTIVE_CATEGORIES})
        out["mean_psr"] = self.psr_sum / n
        out["promotion_fraction"] = self.fraction_sum / self.fraction_count  # NaN when no image had an effect
        out["clamped_share"] = self.clamped_count / n
        out["num_images"] = self.count
        return out
