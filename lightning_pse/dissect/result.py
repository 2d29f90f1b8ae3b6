"""``DissectionResult``: what a dissection of one layer found, per unit and concept."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .settings import DEFAULT_DISSECTION


@dataclass
class DissectionResult:
    """Dissection of ``layer``: ``thresholds`` ``[K]``, ``iou`` ``[K, C]`` (CPU, float64), the
    concepts' names and categories (``C`` each), the settings and the probe set's size."""

    layer: str
    thresholds: Tensor
    iou: Tensor
    concept_names: list[str]
    concept_categories: list[str]
    quantile: float = DEFAULT_DISSECTION.quantile
    iou_threshold: float = DEFAULT_DISSECTION.iou_threshold
    num_images: int = 0

    @property
    def best_concept(self) -> Tensor:
        """``[K]`` long: each unit's concept of highest IoU."""
        return self.iou.argmax(dim=1)

    @property
    def best_iou(self) -> Tensor:
        """``[K]``: each unit's highest IoU."""
        return self.iou.max(dim=1).values

    @property
    def detectors(self) -> Tensor:
        """``[K]`` bool: the unit is an interpretable detector (best IoU > ``iou_threshold``)."""
        return self.best_iou > self.iou_threshold

    @property
    def interpretable_units(self) -> int:
        return int(self.detectors.sum())

    def category_counts(self) -> dict[str, dict[str, int]]:
        """Per category: detector ``units`` whose best concept is in it, and the ``concepts`` they
        cover (unique detectors, as Network Dissection reports them)."""
        out = {category: {"units": 0, "concepts": 0} for category in dict.fromkeys(self.concept_categories)}
        detected = self.best_concept[self.detectors].tolist()
        for concept in detected:
            out[self.concept_categories[concept]]["units"] += 1
        for concept in set(detected):
            out[self.concept_categories[concept]]["concepts"] += 1
        return out

    def unit_rows(self, sensitivity: Tensor | None = None) -> list[dict]:
        """One row per unit: ``unit, concept, category, iou, detector`` (and ``sensitivity``)."""
        rows = []
        for unit, (concept, score, detector) in enumerate(
            zip(self.best_concept.tolist(), self.best_iou.tolist(), self.detectors.tolist())
        ):
            row = {
                "unit": unit,
                "concept": self.concept_names[concept],
                "category": self.concept_categories[concept],
                "iou": score,
                "detector": detector,
            }
            if sensitivity is not None:
                row["sensitivity"] = float(sensitivity[unit])
            rows.append(row)
        return rows
