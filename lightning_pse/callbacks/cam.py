"""``CAMCallback``: per-epoch CAM agreement of the PSE categories, and CAM localisation."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from ..attacks import Attack
from ..cam import cam_agreement, cam_method, localization
from ..plots import heat_overlay, side_by_side, to_uint8
from ..pse import analyze_attack, check_group_layout
from .media import log_media
from .probe import ProbeBatch, ProbeCallback
from .pse import default_pse_attacks

AGREEMENT_KEYS = ("agreement_suppression_true", "baseline_suppression_true", "agreement_promotion_target",
                  "baseline_promotion_target", "cam_shift")


class CAMCallback(ProbeCallback):
    """For each attack, on the correctly classified probe samples it fools: the CAM agreement
    scores of ``cam.cam_agreement`` (``docs/method.md`` §2) averaged over images where they are
    defined, logged as ``cam/<attack>/{agreement,baseline}_suppression_true``,
    ``cam/<attack>/{agreement,baseline}_promotion_target`` and ``cam/<attack>/cam_shift``. When
    the data carry ``object_mask`` (the synthetic benchmark): ``cam/localization_iou`` and
    ``cam/pointing_game`` of the true-class map on the clean probe samples. With W&B, a grid of
    clean images with the true-class map beside adversarial images with the target-class map.

    Args:
        attacks: name → attack (default: targeted PGD-20 as in ``PSECallback``; its C&W is left out
            to keep the cost down, pass ``attacks`` to add it).
        method: ``cam``, ``grad_cam`` or ``grad_cam_pp``; layer: its layer (default: feature layer).
        threshold: region = map ≥ threshold·max (0.2); draws: random regions per baseline (5).
        estimator, group_size, tau, rho: the PSE analysis behind the categories.
        num_media, every_n_epochs, num_samples, split, seed, batch_size: as in ``PSECallback``.
    """

    def __init__(self, attacks: dict[str, Attack] | None = None, method: str = "cam", layer: str | None = None,
                 threshold: float = 0.2, draws: int = 5, estimator: str = "ablation", group_size: int | None = None,
                 tau: float = 1.0, rho: float = 0.05, num_media: int = 8, every_n_epochs: int = 1,
                 num_samples: int | None = 64, split: str = "val", seed: int = 0, batch_size: int = 32) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        cam_method(method)  # refuse unknown names at construction
        self.attacks = attacks if attacks is not None else {"pgd": default_pse_attacks(seed=seed)["pgd"]}
        self.cam = dict(method=method, layer=layer, threshold=threshold)
        self.draws = draws
        self.analysis = dict(estimator=estimator, group_size=group_size, tau=tau, rho=rho)
        self.num_media = num_media
        self.scores = {name: {key: MeanMetric(nan_strategy="ignore") for key in AGREEMENT_KEYS}
                       for name in self.attacks}
        self.localization = {key: MeanMetric(nan_strategy="ignore") for key in ("localization_iou", "pointing_game")}

    def _metrics(self):
        yield from self.localization.values()
        for per_attack in self.scores.values():
            yield from per_attack.values()

    def attacks_used(self) -> list[Attack]:
        return list(self.attacks.values())

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        """The CAM method takes the model at its layer (one map), and the PSE groups fit the images."""
        cam_method(self.cam["method"])(model, x, torch.zeros(1, dtype=torch.long, device=x.device), self.cam["layer"])
        check_group_layout(x, self.analysis["group_size"])

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        for metric in self._metrics():
            metric.to(pl_module.device).reset()
        examples = [] if trainer.is_global_zero else None
        for batch in self.probe_batches(trainer, model):
            batch = batch.select(batch.correct)
            if not len(batch):
                continue
            if "object_mask" in batch.extras:
                overlap, hit = localization(model, batch.x, batch.y, batch.extras["object_mask"], **self.cam)
                self.localization["localization_iou"].update(overlap)
                self.localization["pointing_game"].update(hit.float())
            for name, attack in self.attacks.items():
                self._update(name, attack, model, batch, examples)
        values = {}
        if self.has_field(trainer, "object_mask"):  # decided from the dataset, alike on every rank
            values.update({f"cam/{key}": metric.compute() for key, metric in self.localization.items()})
        for name, per_attack in self.scores.items():
            values.update({f"cam/{name}/{key}": metric.compute() for key, metric in per_attack.items()})
        self.results = values
        self.log_scalars(pl_module, values)
        log_media(trainer, lambda logger: self._log_media(logger, trainer, examples))

    def _update(self, name: str, attack: Attack, model: nn.Module, batch: ProbeBatch, examples: list | None) -> None:
        attacked, pse = analyze_attack(model, attack, batch.x, batch.y, **self.analysis)
        if pse is None:
            return
        won = attacked.success
        aim = attacked.aim[won]
        x, x_adv, y = batch.x[won], attacked.x_adv[won], batch.y[won]
        scores = cam_agreement(model, x, x_adv, y, aim, pse, **self.cam, draws=self.draws, seed=self.seed)
        for key, metric in self.scores[name].items():
            metric.update(getattr(scores, key))
        if examples is not None and len(examples) < self.num_media and name == next(iter(self.attacks)):
            room = self.num_media - len(examples)
            method = cam_method(self.cam["method"])
            true_map = method(model, x[:room], y[:room], self.cam["layer"])
            target_map = method(model, x_adv[:room], aim[:room], self.cam["layer"])
            examples.extend(zip(heat_overlay(x[:room], true_map), heat_overlay(x_adv[:room], target_map)))

    def _log_media(self, logger, trainer: pl.Trainer, examples: list | None) -> None:
        if not examples:
            return
        clean, adversarial = (torch.stack(column) for column in zip(*examples))
        grid = side_by_side(clean, adversarial)
        logger.log_image("cam/overlays", images=[to_uint8(grid)], step=trainer.global_step,
                         caption=["clean, true-class map | adversarial, target-class map"])
