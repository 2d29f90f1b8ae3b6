"""Mid-epoch resume: make sure the train loader's saved position is applied.

Lightning restores a resumable loader's state (torchdata's ``StatefulDataLoader``) when it sets up
the train data. But a ``configure_optimizers`` that asks for ``trainer.estimated_stepping_batches``
(our OneCycle and cosine schedules) makes Lightning set up the train data while it restores the
optimizers, before it has read the loops' state; the saved loader position then stays pending and
the resumed epoch restarts from a fresh shuffle (Lightning 2.6). ``apply_pending_loader_state``,
called at ``on_train_start``, applies the pending state and restarts the data iterator from it.
"""

from __future__ import annotations

import pytorch_lightning as pl


def apply_pending_loader_state(trainer: pl.Trainer) -> bool:
    """Apply a train-loader state Lightning left pending; ``True`` when one was applied."""
    fit_loop = trainer.fit_loop
    pending = getattr(fit_loop, "_combined_loader_states_to_load", None)
    if not pending or fit_loop._combined_loader is None or not fit_loop.restarting:
        return False
    fit_loop._load_combined_loader_states()
    iter(fit_loop._data_fetcher)  # a new iterator that starts from the restored position
    return True
