"""A callback that kills its own process with SIGKILL after a given training step, before that
step's checkpoint is written (Lightning runs ``ModelCheckpoint`` after the other callbacks): what a
node dying mid-epoch looks like to the run. Used by ``test_resume.py`` through ``train.py``."""

import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
