"""``DissectionSettings``: the network level's settings, defined once (``docs/method.md`` §3) and used
by ``dissect``, the dissection section, its callback and ``analyze.py``'s options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DissectionSettings:
    """``quantile``: a unit's threshold is its activations' top-``quantile`` level (NetDissect-Lite's
    0.005); ``iou_threshold``: a unit is a detector of its best concept above this IoU (0.04);
    ``top_fraction``: the share of the most (and least) attack-sensitive units compared with random
    ones, ``k = max(1, round(top_fraction·K))`` (our choice, 0.1)."""

    quantile: float = 0.005
    iou_threshold: float = 0.04
    top_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1 or not 0 < self.top_fraction <= 1 or not 0 <= self.iou_threshold <= 1:
            raise ValueError(
                "dissection settings out of range: need 0 < quantile < 1, 0 ≤ iou_threshold ≤ 1, 0 < top_fraction ≤ 1"
            )


DEFAULT_DISSECTION = DissectionSettings()
