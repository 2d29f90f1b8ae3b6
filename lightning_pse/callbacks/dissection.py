"""``DissectionCallback``: Network Dissection and unit sensitivity of chosen layers, per epoch."""

from __future__ import annotations

from dataclasses import replace

import pytorch_lightning as pl
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..dissect import DEFAULT_DISSECTION, DissectionSettings, concept_probe_set
from ..errors import UserInputError
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
        layers: dotted layer names of the model (default: ``dissection.layer``, else its feature
            layer).
        attack: the attack whose unit effects give ``s_k`` (default ``presets.sensitivity``: PGD-10, step
            ε/4, at the radius ``presets.model_threat`` picks).
        dissection: the dissection's settings (``dissect.DissectionSettings``, whole; in YAML a
            nested block): the concept probe set (``probe``: the synthetic concepts rendered at the
            data's image size and channel count, or ``data``; ``broden_dir`` and
            ``broden_categories``: a Broden directory, images resized to the model's input size),
            its size ``num_concept_images``, quantile, IoU threshold, top fraction and
            ``stability_draws`` (one process).
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
        dissection: DissectionSettings = DEFAULT_DISSECTION,
        every_n_epochs: int = 5,
        num_samples: int | None = 256,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        layers = dissection.layer if layers is None else layers
        self.layers = [layers] if isinstance(layers, str) or layers is None else list(layers)
        self.default_attack = attack is None
        self.attack = attack  # None until ``setup``: ``presets.sensitivity`` at the threat model
        self.settings = dissection
        self._sections: list[DissectionSection] = []  # one per layer, built in ``setup`` with the concept set

    def use_threat_model(self, norm: str, eps: float) -> None:
        if self.default_attack:
            self.attack = presets.sensitivity(eps, norm, self.seed)

    def use_cheapest_attacks(self) -> None:
        """The sensitivity attack at its smallest budget, on ``SMOKE_SAMPLES`` concept images."""
        self.attack = self.attack.cheapest()
        self.settings = replace(self.settings, num_concept_images=min(self.settings.num_concept_images, SMOKE_SAMPLES))

    def attacks_used(self) -> list[Attack]:
        return [self.attack]

    def sections(self) -> list[Section]:
        return list(self._sections)

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        """The layers exist, label stability runs in one process, and the concept probe set
        (Broden, or the synthetic concepts or the data's own at the data's image size and channel
        count) is built, once."""
        settings = self.settings
        if settings.stability_draws and trainer.world_size > 1:
            raise UserInputError(
                "label stability (dissection.stability_draws) runs in one process: set it to 0 under DDP"
            )
        for layer in self.layers:
            resolve_layer(model, layer)
        concepts = concept_probe_set(
            trainer.datamodule,
            settings.num_concept_images,
            settings.broden_dir,
            settings.broden_categories,
            x.shape[-1],
            x.shape[1],
            self.seed,
            probe=settings.probe,
        )
        self._sections = [
            DissectionSection(concepts, layer, self.attack, self.settings, self.batch_size, self.seed)
            for layer in self.layers
        ]
