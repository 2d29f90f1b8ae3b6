"""``DissectionSettings``: the network level's settings, defined once (``docs/method.md`` §3) and used
by ``dissect``, the dissection and masking sections, the dissection callback and ``analyze.py``'s
``--dissection.*`` options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import UserInputError

CONCEPT_PROBES = ("synthetic", "data")  # the built-in concept sets (``concepts.concept_probe_set``)


@dataclass(frozen=True)
class DissectionSettings:
    """Network dissection, unit sensitivity and neuron masking.

    Args:
        layer: the dissected (and masked) layer (default: the model's feature layer, or its last
            conv layer).
        probe: the concept probe set: ``synthetic`` (the built-in concepts at the data's image size)
            or ``data`` (objects from the data's own foregrounds, grey textures); ``broden_dir``
            replaces either.
        num_concept_images: size of the concept probe subset.
        stability_draws: bootstrap and pixel-noise draws of each unit's label stability (0: off;
            one process).
        quantile: a unit's threshold is its activations' top-``quantile`` level (NetDissect-Lite's
            0.005).
        iou_threshold: a unit is a detector of its best concept above this IoU (0.04).
        top_fraction: the share of the most (and least) attack-sensitive units compared with random
            ones, ``k = max(1, round(top_fraction·K))`` (our choice, 0.1).
        broden_dir: dissect on a Broden directory (images resized to the model's input size).
        broden_categories: the Broden categories to read (default all).
        fractions: the masking curve's fractions of units masked (default ``MASK_FRACTIONS``).
    """

    layer: str | None = None
    probe: Literal["synthetic", "data"] = "synthetic"
    num_concept_images: int = 256
    stability_draws: int = 0
    quantile: float = 0.005
    iou_threshold: float = 0.04
    top_fraction: float = 0.1
    broden_dir: str | None = None
    broden_categories: list[str] | None = None
    fractions: list[float] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1 or not 0 < self.top_fraction <= 1 or not 0 <= self.iou_threshold <= 1:
            raise UserInputError(
                "dissection settings out of range: need 0 < quantile < 1, 0 ≤ iou_threshold ≤ 1, 0 < top_fraction ≤ 1"
            )
        if self.probe not in CONCEPT_PROBES:
            raise UserInputError(f"unknown concept probe {self.probe!r}; choose one of {', '.join(CONCEPT_PROBES)}")
        if self.num_concept_images < 1:
            raise UserInputError(f"dissection.num_concept_images must be at least 1, got {self.num_concept_images}")
        if self.stability_draws < 0:
            raise UserInputError(
                f"dissection.stability_draws must be 0 (off) or a number of draws, got {self.stability_draws}"
            )
        if self.fractions is not None and any(not 0 <= f < 1 for f in self.fractions):
            raise UserInputError(f"dissection.fractions must lie in [0, 1), got {self.fractions}")


DEFAULT_DISSECTION = DissectionSettings()
