"""``RobustEvalCallback``: accuracy under attack on a fixed probe set, per epoch."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import nn
from torchmetrics import MeanMetric

from ..attacks import PGD, Attack, robust_correct
from .probe import ProbeCallback


class RobustEvalCallback(ProbeCallback):
    """Logs ``<split>/robust_acc`` (default ``val/robust_acc``): the share of probe samples still
    classified correctly under ``attack`` (samples misclassified clean count as errors), and
    ``<split>/probe_clean_acc`` on the same samples. ``ModelCheckpoint(monitor="val/robust_acc")``
    selects on it (keep ``every_n_epochs=1`` then, so every epoch has a value).

    Args:
        attack: default PGD-20, ℓ∞ 8/255, step 2/255 with a random start (seed 0), stopping on each
            sample at its first adversarial point (``early_stop``: fooled samples cost no more steps).
        every_n_epochs, num_samples, split, seed, batch_size: see ``ProbeCallback``.
    """

    def __init__(self, attack: Attack | None = None, every_n_epochs: int = 1, num_samples: int | None = 512,
                 split: str = "val", seed: int = 0, batch_size: int = 128) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.attack = attack if attack is not None else PGD(eps=8 / 255, steps=20, step_size=2 / 255,
                                                                  early_stop=True, seed=seed)
        self.robust = MeanMetric()
        self.clean = MeanMetric()

    def attacks_used(self) -> list[Attack]:
        return [self.attack]

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        for metric in (self.robust, self.clean):
            metric.to(pl_module.device).reset()
        for batch in self.probe_batches(trainer, model):
            self.clean.update(batch.correct.float())
            self.robust.update(robust_correct(self.attack, model, batch.x, batch.y, batch.correct).float())
        self.log_scalars(pl_module, {f"{self.split}/robust_acc": self.robust.compute(),
                                     f"{self.split}/probe_clean_acc": self.clean.compute()})
