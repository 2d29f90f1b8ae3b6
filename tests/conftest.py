"""Shared fixtures. The small synthetic-benchmark model many tests need is trained once per test
session and cached on disk (``.cache/tests``), keyed by the source of the code that shapes it and by
torch's thread count (CPU training is not bitwise the same on one thread and on two, so a model
cached by a one-thread run would make a two-thread run test another model than a fresh one would).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import lightning_pse
from lightning_pse.data import SyntheticDataModule
from lightning_pse.training import ClassifierModule

from helpers import quiet_trainer

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "tests"

# Tests never talk to a W&B server.
os.environ.pop("WANDB_API_KEY", None)
os.environ.setdefault("WANDB_SILENT", "true")
# Every report a test writes (in-process or through a subprocess) is validated against the shipped schema.
os.environ["LIGHTNING_PSE_VALIDATE_REPORTS"] = "1"


TRAINED_DATA = dict(num_train=10000, num_val=1000, num_test=500, batch_size=128)
TRAINED_EPOCHS = 3


def _source_hash() -> str:
    package = Path(lightning_pse.__file__).parent
    digest = hashlib.sha256(repr((TRAINED_DATA, TRAINED_EPOCHS, torch.__version__, torch.get_num_threads())).encode())
    digest.update(Path(__file__).read_bytes())  # the training recipe below
    for sub in ("data", "models", "training"):
        for path in sorted((package / sub).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def synthetic_data() -> SyntheticDataModule:
    data = SyntheticDataModule(**TRAINED_DATA)
    data.setup()
    return data


@pytest.fixture(scope="session")
def trained_module(synthetic_data) -> ClassifierModule:
    """A small CNN trained on the synthetic benchmark (eval mode, CPU)."""
    path = CACHE / f"small_cnn_{_source_hash()}.pt"
    pl.seed_everything(0)  # before the module exists: its initial weights come from this seed
    module = ClassifierModule(
        model="small_cnn",
        num_classes=synthetic_data.num_classes,
        mean=synthetic_data.mean,
        std=synthetic_data.std,
        lr=0.1,
        scheduler="onecycle",
    )
    if path.exists():
        module.load_state_dict(torch.load(path, weights_only=True))
    else:
        trainer = quiet_trainer(max_epochs=TRAINED_EPOCHS)
        trainer.fit(module, datamodule=synthetic_data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(module.state_dict(), tmp)
        tmp.replace(path)
    return module.eval()


@pytest.fixture(scope="session")
def trained_model(trained_module):
    """The ``ImageClassifier`` inside ``trained_module``."""
    return trained_module.model


@pytest.fixture(scope="session")
def fitted_run(tmp_path_factory):
    """``train.py fit`` of the default config on a tiny synthetic set for 2 epochs: ``(run dir, result)``."""
    from helpers import TINY, run_train

    root = tmp_path_factory.mktemp("run")
    result = run_train("fit", *TINY, "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(root), cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result
