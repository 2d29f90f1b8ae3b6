"""What a machine with a CUDA GPU must pass: one training step on the GPU, one analysis on the GPU,
and bf16 autocast leaving the callbacks' numbers in float32. Marked ``gpu`` and skipped only where
torch sees no CUDA device (the condition below), so ``make test`` runs them on any GPU machine and CI
on a CPU machine reports them as skipped, never as passed."""

import copy

import pytest
import torch

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import PGD
from lightning_pse.callbacks import RobustEvalCallback
from lightning_pse.training import ClassifierModule

from helpers import quiet_trainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)"),
]


def test_one_training_step_on_the_gpu(synthetic_data):
    module = ClassifierModule(
        model="small_cnn", num_classes=synthetic_data.num_classes, mean=synthetic_data.mean, std=synthetic_data.std
    )
    before = [p.detach().clone() for p in module.parameters()]
    trainer = quiet_trainer(accelerator="gpu", devices=1, fast_dev_run=1)
    trainer.fit(module, datamodule=synthetic_data)
    assert trainer.strategy.root_device.type == "cuda"
    assert any(not torch.equal(b, p.detach().cpu()) for b, p in zip(before, module.parameters())), "a step was taken"


def test_an_analysis_on_the_gpu_counts_what_the_cpu_counts(trained_model, synthetic_data):
    settings = dict(num_samples=32, batch_size=16, attacks={"pgd": PGD(eps=8 / 255, steps=5, random_start=False)})
    on_gpu = evaluate(copy.deepcopy(trained_model), synthetic_data, ["robustness"], device="cuda", **settings)
    on_cpu = evaluate(copy.deepcopy(trained_model), synthetic_data, ["robustness"], device="cpu", **settings)
    assert on_gpu["settings"]["device"].startswith("cuda")
    assert on_gpu["clean"]["count"] == on_cpu["clean"]["count"]
    assert abs(on_gpu["attacks"]["pgd"]["robust"] - on_cpu["attacks"]["pgd"]["robust"]) <= 1  # float order


def test_bf16_autocast_leaves_the_callbacks_in_float32(trained_module, synthetic_data):
    """Under ``precision="bf16-mixed"`` the per-epoch measurement runs with autocast off: the same
    robust accuracy as a float32 run on the same GPU."""

    def measured(precision: str) -> float:
        attack = PGD(eps=8 / 255, steps=5, random_start=False)
        callback = RobustEvalCallback(attack=attack, num_samples=32, batch_size=16)
        trainer = quiet_trainer(accelerator="gpu", devices=1, precision=precision, callbacks=[callback])
        return trainer.validate(copy.deepcopy(trained_module), datamodule=synthetic_data, verbose=False)[0][
            "val/robust_acc"
        ]

    assert measured("bf16-mixed") == measured("32-true")
