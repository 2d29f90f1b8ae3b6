"""What the adversarial-training tests share: a training batch and a module holding the session's trained weights."""

import pytest
import torch

from lightning_pse.training.adversarial import RadiusFromData


@pytest.fixture()
def batch(synthetic_data):
    items = [synthetic_data.split("train")[i] for i in range(32)]
    return torch.stack([i["image"] for i in items]), torch.tensor([i["label"] for i in items])


SYNTHETIC_EPS = 8 / 255  # the synthetic benchmark's standard radius: what a Trainer would resolve ``eps`` to


def module_like(cls, trained_module, **kwargs):
    """``cls`` holding the trained weights, in train mode; an adversarial module at the synthetic
    benchmark's radius unless ``eps`` is given (used without a Trainer, it cannot resolve its own)."""
    h = trained_module.hparams
    if issubclass(cls, RadiusFromData):
        kwargs.setdefault("eps", SYNTHETIC_EPS)
    module = cls(model=h.model, num_classes=h.num_classes, mean=h.mean, std=h.std, **kwargs)
    module.load_state_dict(trained_module.state_dict(), strict=False)
    return module.train()


@pytest.fixture()
def like_trained(trained_module):
    """``like_trained(cls, **kwargs)``: ``cls`` holding the session model's weights, in train mode."""
    return lambda cls, **kwargs: module_like(cls, trained_module, **kwargs)
