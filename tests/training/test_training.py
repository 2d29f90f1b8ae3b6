import pytest
import torch

from lightning_pse.data import SyntheticDataModule
from lightning_pse.errors import UserInputError
from lightning_pse.training import ClassifierModule

from helpers import quiet_trainer


def test_trained_model_learns_the_synthetic_benchmark(trained_module, synthetic_data):
    """The benchmark is learnable: the test session's small model passes 90 % on validation."""
    trainer = quiet_trainer()
    (metrics,) = trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)
    assert metrics["val/acc"] >= 0.90


@pytest.mark.parametrize(
    "optimizer, scheduler", [("sgd", "onecycle"), ("adam", "cosine"), ("adamw", "multistep"), ("sgd", "none")]
)
@pytest.mark.slow
def test_optimizers_and_schedulers_step(optimizer, scheduler):
    dm = SyntheticDataModule(num_train=64, num_val=32, num_test=32, batch_size=32)
    module = ClassifierModule(
        model="small_cnn", model_kwargs={"width": 8}, optimizer=optimizer, scheduler=scheduler, lr=0.01, milestones=[1]
    )
    before = [p.detach().clone() for p in module.parameters()]
    trainer = quiet_trainer(max_epochs=2)
    trainer.fit(module, datamodule=dm)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))
    lrs = [g["lr"] for g in trainer.optimizers[0].param_groups]
    if scheduler in ("onecycle", "cosine", "multistep"):
        assert lrs[0] < 0.01
    else:
        assert lrs[0] == 0.01


def test_unknown_optimizer_or_scheduler():
    with pytest.raises(UserInputError, match="optimizer"):
        ClassifierModule(optimizer="lion")
    with pytest.raises(UserInputError, match="scheduler"):
        ClassifierModule(scheduler="warm")
