"""``BestCheckpoint``: keep the best epoch by the training method's own validation metric."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class BestCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` whose ``monitor`` defaults to the module's ``selection_metric``:
    ``val/acc`` for standard training, ``val/robust_acc`` (``RobustEvalCallback``) for adversarial
    training, so one callbacks block serves every method. Always a validation metric: selecting on
    the test split would hide robust overfitting.

    Args:
        monitor: a logged metric to keep the best epoch by (None: the module's ``selection_metric``).
        mode, filename, other arguments: as ``ModelCheckpoint`` (``max``, ``best-{epoch:03d}``).
    """

    def __init__(
        self, monitor: str | None = None, mode: str = "max", filename: str = "best-{epoch:03d}", **kwargs
    ) -> None:
        super().__init__(monitor=monitor, mode=mode, filename=filename, **kwargs)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.monitor is None:
            self.monitor = getattr(pl_module, "selection_metric", "val/acc")
        super().setup(trainer, pl_module, stage)
