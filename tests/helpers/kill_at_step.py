"""Callbacks that signal their own process after a given training step, used through ``train.py``.
``KillAtStep``: SIGKILL before that step's checkpoint is written (Lightning runs ``ModelCheckpoint``
after the other callbacks): what a node dying mid-epoch looks like to the run (``test_resume.py``).
``TermAtStep``: SIGTERM, a scheduler's stop (``test_signals.py``)."""

import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    signal = signal.SIGKILL

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signal)


class TermAtStep(KillAtStep):
    """Sends its own process SIGTERM after training step ``step``, as a scheduler or ``timeout`` does."""

    signal = signal.SIGTERM
