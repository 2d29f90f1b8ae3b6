"""``DissectionCallback``: Network Dissection and unit sensitivity of chosen layers, per epoch."""

from __future__ import annotations

import io

import pytorch_lightning as pl
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..attacks import PGD, Attack
from ..data import shard_batches
from ..dissect import (DissectionResult, attack_sensitivity, concept_probe_set, concept_source, dissect,
                       dissection_summary)
from ..models.capture import resolve_layer
from ..pse import UnitSensitivity
from .media import log_media
from .probe import ProbeCallback

LOGGED = ("interpretable_units", "spearman_sensitivity_iou", "topk_detector_share", "bottomk_detector_share",
          "randomk_detector_share", "topk_mean_iou", "bottomk_mean_iou", "randomk_mean_iou")


class DissectionCallback(ProbeCallback):
    """Dissects ``layers`` on a concept probe set and relates each unit's attack sensitivity to its
    interpretability (``lightning_pse.dissect``; ``docs/method.md`` §3). Expensive, so by default every 5
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
        attack: the attack whose unit effects give ``s_k`` (default PGD-10, ℓ∞ 8/255, step 2/255).
        broden_dir: dissect on a Broden directory (images resized to the model's input size);
            default: the synthetic concept probe set (``SyntheticConcepts``) rendered at the data's
            image size and channel count, whatever the dataset (``concept_probe_set``).
        broden_categories: Broden categories to read (default all).
        num_concept_images: size of the concept probe subset.
        quantile, iou_threshold: dissection settings (0.005 and 0.04).
        top_fraction, random_draws: the top-k comparison (``compare_sensitivity``).
        every_n_epochs, num_samples, split, seed, batch_size: see ``ProbeCallback`` (the
            sensitivity is measured on ``num_samples`` images of ``split``).
    """

    def __init__(self, layers: list[str] | str | None = None, attack: Attack | None = None,
                 broden_dir: str | None = None, broden_categories: list[str] | None = None,
                 num_concept_images: int = 256, quantile: float = 0.005, iou_threshold: float = 0.04,
                 top_fraction: float = 0.1, random_draws: int = 100, every_n_epochs: int = 5,
                 num_samples: int | None = 256, split: str = "val", seed: int = 0, batch_size: int = 64) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.layers = [layers] if isinstance(layers, str) or layers is None else list(layers)
        self.attack = attack if attack is not None else PGD(eps=8 / 255, steps=10, step_size=2 / 255, seed=seed)
        self.broden_dir, self.broden_categories = broden_dir, broden_categories
        self.num_concept_images = num_concept_images
        self.settings = dict(quantile=quantile, iou_threshold=iou_threshold)
        self.comparison = dict(top_fraction=top_fraction, random_draws=random_draws, seed=seed)
        self.results: dict[str, tuple[DissectionResult, Tensor, dict]] = {}  # the last measurement, per layer
        self.concepts = None  # the concept probe set, built in ``setup``

    def attacks_used(self) -> list[Attack]:
        return [self.attack]

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        """The layers exist, and the concept probe set (Broden, or the synthetic concepts at the
        data's image size and channel count) is built, once."""
        for layer in self.layers:
            resolve_layer(model, layer)
        self.concepts = concept_probe_set(trainer.datamodule, self.num_concept_images, self.broden_dir, self.broden_categories,
                                          x.shape[-1], x.shape[1], self.seed)

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        concepts = self.concepts
        source = concept_source(concepts)
        loader = DataLoader(concepts, batch_sampler=shard_batches(len(concepts), self.batch_size, trainer.global_rank,
                                                                  trainer.world_size))
        self.results = {}
        for layer in self.layers:
            result = dissect(model, layer, loader, **self.settings, concept_names=source.concept_names,
                             concept_categories=source.concept_categories, sync_ranks=True)
            metric = UnitSensitivity(len(result.thresholds)).to(pl_module.device)
            sensitivity = attack_sensitivity(model, layer, self.attack, (
                (batch.x, batch.y) for batch in self.probe_batches(trainer, model)), metric)
            summary = dissection_summary(result, sensitivity.cpu(), **self.comparison)
            self.results[result.layer] = (result, sensitivity.cpu(), summary)
            values = {f"dissect/{result.layer}/{key}": summary[key] for key in LOGGED}
            values.update({f"dissect/{result.layer}/{category}_detectors": counts["units"]
                           for category, counts in summary["detectors_per_category"].items()})
            self.log_scalars(pl_module, values)
        log_media(trainer, lambda logger: self._log_media(logger, trainer))

    def _log_media(self, logger, trainer: pl.Trainer) -> None:
        from PIL import Image

        from ..analysis.figures import sensitivity_scatter

        for layer, (result, sensitivity, summary) in self.results.items():
            rows = result.unit_rows(sensitivity)
            columns = ["unit", "concept", "category", "iou", "sensitivity", "detector"]
            logger.log_table(f"dissect/{layer}/units", columns=columns, data=[[r[c] for c in columns] for r in rows],
                             step=trainer.global_step)
            png = sensitivity_scatter(sensitivity, result.best_iou, result.detectors,
                                      summary["spearman_sensitivity_iou"], layer, result.iou_threshold)
            logger.log_image(f"dissect/{layer}/sensitivity_vs_iou", images=[Image.open(io.BytesIO(png))], step=trainer.global_step)
