"""``DissectionCallback``: Network Dissection and unit sensitivity of chosen layers, per epoch."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..dissect import DEFAULT_DISSECTION, DissectionSettings, concept_probe_set
from ..models.capture import resolve_layer
from ..sections import DissectionSection, Section
from .schedule import SMOKE_SAMPLES, ProbeCallback


class DissectionCallback(ProbeCallback):
    """Dissects ``layers`` on a concept probe set and relates each unit's attack sensitivity to its
    interpretability (``sections.DissectionSection``; ``docs/method.md`` §3). Expensive, so by default every 5
    epochs (and at the last one, and in every ``validate`` run) on probe subsets.

    Logs per layer ``<name>``: ``dissect/<name>/interpretable_units``,
    ``dissect/<name>/spearman_sensitivity_iou`` (Spearman ρ of ``s_k`` with the best IoU),
    ``dissect/<name>/{topk,bottomk,randomk}_detector_share`` and ``..._mean_iou``, and
    ``dissect/<name>/<category>_detectors``. With W&B (rank 0): a per-unit table (unit, concept,
    category, IoU, sensitivity) and the sensitivity–IoU scatter plot.

    Under DDP each rank dissects and attacks its shard; quantiles are taken over the gathered
    activations and the IoU and sensitivity sums are added over ranks, so every rank logs what one
    process would.

    Args:
        layers: dotted layer names of the model (default: its feature layer).
        attack: the attack whose unit effects give ``s_k`` (default ``presets.sensitivity``: PGD-10, step
            ε/4, at the radius ``presets.model_threat`` picks).
        broden_dir: dissect on a Broden directory (images resized to the model's input size);
            default: the synthetic concept probe set (``SyntheticConcepts``) rendered at the data's
            image size and channel count, whatever the dataset (``concept_probe_set``).
        broden_categories: Broden categories to read (default all).
        num_concept_images: size of the concept probe subset.
        dissection: the dissection's settings (``dissect.DissectionSettings``, whole: quantile,
            IoU threshold, top fraction; in YAML a nested block).
        every_n_epochs: see ``ProbeCallback``.
        num_samples: see ``ProbeCallback`` (the sensitivity is measured on ``num_samples`` images
            of ``split``).
        split: see ``ProbeCallback``.
        seed: see ``ProbeCallback``.
        batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        layers: list[str] | str | None = None,
        attack: Attack | None = None,
        broden_dir: str | None = None,
        broden_categories: list[str] | None = None,
        num_concept_images: int = 256,
        dissection: DissectionSettings = DEFAULT_DISSECTION,
        every_n_epochs: int = 5,
        num_samples: int | None = 256,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.layers = [layers] if isinstance(layers, str) or layers is None else list(layers)
        self.default_attack = attack is None
        self.attack = attack  # None until ``setup``: ``presets.sensitivity`` at the threat model
        self.broden_dir, self.broden_categories = broden_dir, broden_categories
        self.num_concept_images = num_concept_images
        self.settings = dissection
        self._sections: list[DissectionSection] = []  # one per layer, built in ``setup`` with the concept set

    def use_threat_model(self, norm: str, eps: float) -> None:
        if self.default_attack:
            self.attack = presets.sensitivity(eps, norm, self.seed)

    def use_cheapest_attacks(self) -> None:
        """The sensitivity attack at its smallest budget, on ``SMOKE_SAMPLES`` concept images."""
        self.attack = self.attack.cheapest()
        self.num_concept_images = min(self.num_concept_images, SMOKE_SAMPLES)

    def attacks_used(self) -> list[Attack]:
        return [self.attack]

    def sections(self) -> list[Section]:
        return list(self._sections)

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        """The layers exist, and the concept probe set (Broden, or the synthetic concepts at the
        data's image size and channel count) is built, once."""
        for layer in self.layers:
            resolve_layer(model, layer)
        concepts = concept_probe_set(
            trainer.datamodule,
            self.num_concept_images,
            self.broden_dir,
            self.broden_categories,
            x.shape[-1],
            x.shape[1],
            self.seed,
        )
        self._sections = [
            DissectionSection(concepts, layer, self.attack, self.settings, self.batch_size, self.seed)
            for layer in self.layers
        ]
