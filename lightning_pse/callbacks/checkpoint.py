"""``BestCheckpoint``: keep the best epoch by the training method's own validation metric;
``StopCheckpoint``: a stop requested by SIGTERM writes ``last.ckpt`` at the clean point it stops at."""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException


class BestCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` whose ``monitor`` defaults to the module's ``selection_metric``:
    ``val/acc`` for standard training, ``val/robust_acc`` (``RobustEvalCallback``) for adversarial
    training, so one callbacks block serves every method. Always a validation metric: selecting on
    the test split would hide robust overfitting.

    Args:
        monitor: a logged metric to keep the best epoch by (None: the module's ``selection_metric``).
        mode: as ``ModelCheckpoint``.
        filename: as ``ModelCheckpoint``.
        **kwargs: the other arguments of ``ModelCheckpoint``.
    """

    def __init__(
        self, monitor: str | None = None, mode: str = "max", filename: str = "best-{epoch:03d}", **kwargs
    ) -> None:
        super().__init__(monitor=monitor, mode=mode, filename=filename, **kwargs)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.monitor is None:
            self.monitor = getattr(pl_module, "selection_metric", "val/acc")
        super().setup(trainer, pl_module, stage)


class StopCheckpoint(pl.Callback):
    """On SIGTERM (a scheduler's or ``timeout``'s stop) Lightning finishes the training batch it is
    in and raises ``SIGTERMException``; the analysis callbacks stop between their probe batches
    (``ProbeCallback``). At that clean point this callback writes the run's ``last.ckpt`` (the
    folder of the ``ModelCheckpoint`` named ``last``, else ``<default_root_dir>/checkpoints``), so
    ``--ckpt_path .../last.ckpt`` resumes from the last finished step. ``path``: the file written
    (None until then). train.py adds it to every ``fit``."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        folders = [
            c.dirpath
            for c in trainer.checkpoint_callbacks
            if isinstance(c, ModelCheckpoint) and c.filename == "last" and c.dirpath
        ]
        folder = Path(folders[0]) if folders else Path(trainer.default_root_dir) / "checkpoints"
        self.path = folder / "last.ckpt"
        trainer.save_checkpoint(self.path)  # on every rank: the write is collective under DDP
        if trainer.is_global_zero:
            print(
                f"stopped by SIGTERM after step {trainer.global_step} (epoch {trainer.current_epoch}): wrote "
                f"{self.path}; resume with --ckpt_path {self.path}",
                file=sys.stderr,
                flush=True,
            )
