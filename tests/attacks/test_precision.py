"""The mixed-precision path of the GPU configs, checked on CPU (bf16 autocast works there): attacks
and the analysis callbacks compute in float32 under a ``bf16-mixed`` Trainer, and PSE-AT trains."""

import math

import pytest
import pytorch_lightning as pl
import torch

from lightning_pse.attacks import APGD, PGD
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.data import SyntheticDataModule
from lightning_pse.dissect import DissectionSettings
from lightning_pse.pse import PSESettings
from lightning_pse.training import PSEATModule

from helpers import quiet_trainer

PROBE = dict(num_samples=16, batch_size=8)


def _callbacks():
    return [
        RobustEvalCallback(attack=PGD(eps=8 / 255, steps=5, seed=0), **PROBE),
        PSECallback(
            attacks={"pgd": PGD(eps=16 / 255, steps=5, targeted=True, seed=0)},
            pse=PSESettings(estimator="gradient"),
            **PROBE,
        ),
        CAMCallback(
            attacks={"pgd": PGD(eps=16 / 255, steps=5, targeted=True, seed=0)},
            pse=PSESettings(estimator="gradient"),
            **PROBE,
        ),
        DissectionCallback(
            attack=PGD(eps=8 / 255, steps=3, seed=0), dissection=DissectionSettings(num_concept_images=16), **PROBE
        ),
    ]


def _trainer(precision: str, **kwargs) -> pl.Trainer:
    return quiet_trainer(precision=precision, callbacks=_callbacks(), **kwargs)


@pytest.mark.parametrize(
    "attack", [PGD(eps=8 / 255, steps=5, seed=0), APGD(eps=8 / 255, steps=5, seed=0)], ids=["pgd", "apgd"]
)
def test_attacks_under_autocast_compute_in_float32(trained_model, synthetic_data, attack):
    batch = next(iter(synthetic_data.val_dataloader()))
    x, y = batch["image"][:16], batch["label"][:16]
    reference = attack(trained_model, x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = attack(trained_model, x, y)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, reference)


def test_callbacks_give_float32_numbers_under_bf16_mixed(trained_module):
    data = SyntheticDataModule(num_train=32, num_val=32, num_test=16, batch_size=32)
    full = _trainer("32-true")
    full.validate(trained_module, datamodule=data, verbose=False)
    mixed = _trainer("bf16-mixed")
    mixed.validate(trained_module, datamodule=data, verbose=False)
    keys = sorted(
        k for k in full.callback_metrics if k.split("/")[0] in ("pse", "cam", "dissect") or k == "val/robust_acc"
    )
    assert keys and keys == sorted(k for k in mixed.callback_metrics if k in full.callback_metrics and k in keys)
    for key in keys:
        value = float(mixed.callback_metrics[key])
        assert math.isfinite(value) or math.isnan(float(full.callback_metrics[key])), key
        assert value == pytest.approx(float(full.callback_metrics[key]), rel=1e-5, abs=1e-6, nan_ok=True), key


@pytest.mark.slow
def test_pse_at_trains_under_bf16_mixed():
    data = SyntheticDataModule(num_train=64, num_val=16, num_test=16, batch_size=32)
    module = PSEATModule(
        model="small_cnn", num_classes=10, steps=2, step_size=4 / 255, probe_samples=32, probe_batch_size=16, lr=0.05
    )
    trainer = _trainer("bf16-mixed", max_epochs=1, enable_checkpointing=False)
    trainer.fit(module, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert all(
        math.isfinite(metrics[k]) for k in ("train/loss", "val/acc", "val/robust_acc", "pse_at/suppression_weight")
    )
    assert module.margin_weights.dtype == torch.float32 and torch.isfinite(module.margin_weights).all()
