"""How stable each unit's concept label is (``docs/method.md`` §3): a dissection's label can flip
when the probe images are resampled or their pixels jitter (a published audit of Network Dissection
found up to 28 % of deep-layer labels flipping under pixel noise of σ 0.02), so a finding that rests
on detectors rests only on the detectors whose label holds.

``label_stability`` dissects the layer once on the probe set, then ``draws`` times on a bootstrap
resample of its images and ``draws`` times on its images with Gaussian pixel noise; a unit's label
holds in a draw when its best concept is the same as on the probe set. A unit is **stable** when
its label holds in at least ``MIN_AGREEMENT`` of the bootstrap draws and of the noise draws (our
choice: 90 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from .concepts import concept_source
from .iou import dissect
from .result import DissectionResult
from .settings import DEFAULT_DISSECTION

MIN_AGREEMENT = 0.9  # our choice: a label that holds in 9 draws of 10 is the unit's
NOISE_SIGMA = 0.02  # the audit's pixel noise


class NoisyImages(Dataset):
    """``probe``'s items with Gaussian noise of std ``sigma`` added to each image (clamped to [0, 1]),
    the same noise on every read (``seed`` and the item's index fix it); concepts unchanged."""

    def __init__(self, probe: Dataset, sigma: float, seed: int = 0) -> None:
        self.probe, self.sigma, self.seed = probe, sigma, seed
        source = concept_source(probe)
        self.concept_names, self.concept_categories = source.concept_names, source.concept_categories

    def __len__(self) -> int:
        return len(self.probe)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = dict(self.probe[index])
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        noise = torch.randn(item["image"].shape, generator=generator) * self.sigma
        item["image"] = (item["image"] + noise).clamp(0, 1)
        return item


@dataclass
class LabelStability:
    """A dissection and, per unit ``[K]``, the share of bootstrap and of noise draws in which its best
    concept held, and whether it is ``stable`` (both shares ≥ ``min_agreement``)."""

    result: DissectionResult
    bootstrap: Tensor
    noise: Tensor
    min_agreement: float = MIN_AGREEMENT

    @property
    def stable(self) -> Tensor:
        return (self.bootstrap >= self.min_agreement) & (self.noise >= self.min_agreement)

    @property
    def stable_detectors(self) -> Tensor:
        """``[K]`` bool: detectors (IoU above the threshold) whose label is stable."""
        return self.result.detectors & self.stable

    def summary(self) -> dict:
        """The report's numbers: units, detectors, stable detectors, and the shares of units (and of
        detectors) whose label holds."""
        detectors = self.result.detectors
        return {
            "num_units": int(detectors.numel()),
            "detectors": int(detectors.sum()),
            "stable_detectors": int(self.stable_detectors.sum()),
            "stable_unit_share": float(self.stable.float().mean()),
            "stable_detector_share": float(self.stable[detectors].float().mean()) if detectors.any() else None,
            "min_agreement": self.min_agreement,
        }


def label_stability(
    model: nn.Module,
    layer: nn.Module | str | None,
    probe: Dataset,
    draws: int = 20,
    sigma: float = NOISE_SIGMA,
    seed: int = 0,
    quantile: float = DEFAULT_DISSECTION.quantile,
    iou_threshold: float = DEFAULT_DISSECTION.iou_threshold,
    batch_size: int = 64,
    min_agreement: float = MIN_AGREEMENT,
    result: DissectionResult | None = None,
) -> LabelStability:
    """Dissect ``layer`` on ``probe`` (or take its dissection ``result``, with the same settings) and
    measure each unit's label stability over ``draws`` bootstrap resamples of the probe images and
    ``draws`` noisy copies (std ``sigma``), seeded. Costs ``2·draws`` dissections (forward passes
    only), one more without ``result``."""

    source = concept_source(probe)

    def run(dataset: Dataset) -> DissectionResult:
        loader = DataLoader(dataset, batch_size=batch_size)
        return dissect(
            model,
            layer,
            loader,
            quantile,
            iou_threshold,
            concept_names=source.concept_names,
            concept_categories=source.concept_categories,
        )

    result = result if result is not None else run(probe)
    labels = result.best_concept
    generator = torch.Generator().manual_seed(seed)
    held_bootstrap = torch.zeros(labels.shape, dtype=torch.float64)
    held_noise = torch.zeros(labels.shape, dtype=torch.float64)
    for draw in range(draws):
        rows = torch.randint(0, len(probe), (len(probe),), generator=generator).tolist()
        held_bootstrap += run(Subset(probe, rows)).best_concept == labels
        held_noise += run(NoisyImages(probe, sigma, seed * draws + draw)).best_concept == labels
    return LabelStability(result, held_bootstrap / draws, held_noise / draws, min_agreement)
