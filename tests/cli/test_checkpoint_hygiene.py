"""Checkpoint writes are atomic: a save that dies while writing leaves the previous file intact.

Lightning writes checkpoints through an fsspec transaction (``lightning_fabric.utilities.cloud_io.
_atomic_save``): on a local disk the bytes go to a temporary file that is renamed over the target
only once complete. This test holds Lightning to that, since our resume and analysis rely on it.
"""

import fsspec.implementations.local as local
import pytest
from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_pse.checkpoints import load_module, read_checkpoint
from lightning_pse.data import SyntheticDataModule
from lightning_pse.training import ClassifierModule

from helpers import quiet_trainer


def test_a_save_that_dies_mid_write_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    data = SyntheticDataModule(num_train=64, num_val=32, num_test=32, batch_size=32)
    module = ClassifierModule(num_classes=data.num_classes, mean=data.mean, std=data.std, scheduler="none")
    trainer = quiet_trainer(
        max_epochs=1, callbacks=[ModelCheckpoint(dirpath=tmp_path, filename="last", enable_version_counter=False)]
    )
    trainer.fit(module, datamodule=data)
    last = tmp_path / "last.ckpt"
    good = last.read_bytes()

    original_write = local.LocalFileOpener.write

    def dying_write(self, data):
        original_write(self, data[: len(data) // 2])
        raise OSError("no space left on device")

    monkeypatch.setattr(local.LocalFileOpener, "write", dying_write)
    with pytest.raises(OSError, match="no space left"):
        trainer.save_checkpoint(last)
    monkeypatch.undo()
    assert last.read_bytes() == good, "the good checkpoint is still in place, not a truncated one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"], "no temporary file left behind"
    assert load_module(read_checkpoint(last)).hparams.num_classes == data.num_classes
