"""W&B media from callbacks: drawn on rank 0 only, and never allowed to stop a run."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_warn


def log_media(trainer: pl.Trainer, draw: Callable[[WandbLogger], None]) -> None:
    """Call ``draw(logger)`` for each W&B logger of ``trainer``, on global rank 0 only. A failure
    (W&B unreachable, a plotting error) becomes a warning: media are never worth a crashed run."""
    if not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            try:
                draw(logger)
            except Exception as err:  # noqa: BLE001 - media must not end training
                rank_zero_warn(f"could not log W&B media ({type(err).__name__}: {err}); training goes on")
