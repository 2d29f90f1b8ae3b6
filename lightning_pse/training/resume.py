"""Mid-epoch resume: make sure the train loader's saved position is applied.

Lightning restores a resumable loader's state (torchdata's ``StatefulDataLoader``) when it sets up
the train data. But a ``configure_optimizers`` that asks for ``trainer.estimated_stepping_batches``
(our OneCycle and cosine schedules) makes Lightning set up the train data while it restores the
optimizers, before it has read the loops' state; the saved loader position then stays pending and
the resumed epoch restarts from a fresh shuffle (Lightning 2.6). ``resume_train_loader``, called at
``on_train_start``, applies the pending state and restarts the data iterator from it.

A checkpoint written after an epoch's last training batch (``every_n_train_steps``), before the
epoch ended, restores the loader at the end of that epoch: its first iterator yields nothing (it
finishes the saved epoch), while Lightning moves straight on to the next epoch with that iterator,
which would then run empty. ``resume_train_loader`` then starts a second iterator, which begins the
next epoch with the saved shuffling generator.
"""

from __future__ import annotations

import pytorch_lightning as pl


def resume_train_loader(trainer: pl.Trainer) -> None:
    """On a resumed fit, make the train data iterator continue where the checkpoint left it: apply
    a loader state Lightning left pending, and step past an epoch the loader had already finished."""
    fit_loop = trainer.fit_loop
    if fit_loop._combined_loader is None or not fit_loop.restarting:
        return
    if getattr(fit_loop, "_combined_loader_states_to_load", None):
        fit_loop._load_combined_loader_states()
        iter(fit_loop._data_fetcher)  # a new iterator that starts from the restored position
    if any(_finished_its_epoch(loader) for loader in fit_loop._combined_loader.flattened):
        iter(fit_loop._data_fetcher)  # the restored one is empty: this one starts the next epoch


def _finished_its_epoch(loader) -> bool:
    """Whether a resumable loader's current iterator has already yielded all of its batches."""
    if not hasattr(loader, "state_dict") or not hasattr(loader, "__len__"):
        return False
    return loader.state_dict().get("_num_yielded", 0) >= len(loader)
