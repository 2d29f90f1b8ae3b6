"""``evaluate()`` on the data people have: tensors, a Dataset of tuples or dicts, a DataLoader — with a
model the project never built, its class count read from the model's output, and no warning raised
at the user."""

import warnings
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lightning_pse.analysis import evaluate
from lightning_pse.analysis.engine import Analysis
from lightning_pse.attacks import PGD, presets
from lightning_pse.attacks.radii import standard_eps
from lightning_pse.data import as_datamodule
from lightning_pse.dissect import DissectionSettings
from lightning_pse.errors import UserInputError

NUM_CLASSES = 3
LIGHT = {
    "num_samples": 8,
    "batch_size": 4,
    "attacks": {"pgd": PGD(eps=0.1, steps=3, seed=0)},
    "pse_attacks": {"pgd": PGD(eps=0.1, steps=3, seed=0)},
    "sensitivity_attack": PGD(eps=0.1, steps=2, seed=0),
    "dissection": DissectionSettings(num_concept_images=16),
}


def foreign_model() -> nn.Module:
    """A plain ``nn.Sequential`` (one grey channel, 3 classes): no feature_layer, no normalisation."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, NUM_CLASSES),
    )


def tensors(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 16, 16, generator=generator), torch.arange(n) % NUM_CLASSES


class DictDataset(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"image": self.x[i], "label": self.y[i]}


def test_tensors_and_a_foreign_model_give_every_section_without_warnings():
    model, (x, y) = foreign_model(), tensors()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate(model, (x, y), ["robustness", "pse", "cam", "dissection"], **LIGHT)
    assert [str(w.message) for w in caught] == []
    assert report["num_samples"] == 8
    assert report["eps"] == pytest.approx(8 / 255), "unknown data: the default ℓ∞ radius"
    assert report["settings"]["cam"]["method"] == "grad_cam", "no CAM head: Grad-CAM at the last conv layer"
    assert {"attacks", "pse", "cam", "dissection"} <= report.keys()
    assert report["attacks"]["pgd"]["n"] == 8


def robust_numbers(data) -> dict:
    report = evaluate(foreign_model(), data, ["robustness"], **{**LIGHT, "num_samples": None})
    attacks = {name: {k: v for k, v in a.items() if k != "seconds"} for name, a in report["attacks"].items()}
    return {"attacks": attacks} | {key: report[key] for key in ("clean_accuracy", "worst_case_robust_accuracy")}


def test_every_accepted_form_gives_the_same_numbers():
    x, y = tensors()
    expected = robust_numbers((x, y))
    assert expected, "the robustness section reports accuracies"
    assert robust_numbers(TensorDataset(x, y)) == expected
    assert robust_numbers(DictDataset(x, y)) == expected
    assert robust_numbers(DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True)) == expected
    assert robust_numbers([x, y]) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        ("images.npy", "evaluate() takes (images, labels) tensors"),
        ([1, 2, 3], "evaluate() takes (images, labels) tensors"),
        ((torch.rand(4, 16, 16), torch.zeros(4, dtype=torch.long)), "must be [N, C, H, W] and [N]"),
        ((torch.rand(4, 1, 16, 16), torch.zeros(3, dtype=torch.long)), "must be [N, C, H, W] and [N]"),
        ((torch.rand(4, 1, 16, 16), torch.zeros(4)), "labels must be integer class indices"),
        ((torch.rand(0, 1, 16, 16), torch.zeros(0, dtype=torch.long)), "is empty"),
        (TensorDataset(torch.rand(4, 1, 16, 16)), "not (image, label)"),
        ((torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 7])), "labels run from 0 to 7 but the model has 3"),
    ],
    ids=["path", "list", "3d-images", "lengths", "float-labels", "empty", "no-labels", "label-out-of-range"],
)
def test_other_forms_are_one_line_errors(data, message):
    with pytest.raises(UserInputError) as err:
        evaluate(foreign_model(), data, ["robustness"], **LIGHT)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "training, norm, eps, expected",
    [
        ({}, None, None, ("linf", 8 / 255)),  # unknown data, no training radius: the default ℓ∞ radius
        ({}, "l2", None, ("l2", 0.5)),
        ({"eps": 0.1, "norm": "linf"}, None, None, ("linf", 0.1)),  # the training radius
        ({"eps": 0.1, "norm": "linf"}, "l2", None, ("l2", 0.5)),  # another norm: not the training radius
        ({"eps": 0.1, "norm": "linf"}, None, 0.0, ("linf", 0.0)),  # zero is a value
        ({"eps": 1.0, "norm": "l2"}, None, None, ("l2", 1.0)),  # an ℓ2-trained model is attacked in ℓ2
        ({"eps": 0.1, "norm": "linf"}, "l1", None, ("l1", 12.0)),  # unknown data: CIFAR-10's ℓ1 radius
    ],
)
def test_one_threat_model_resolver(training, norm, eps, expected):
    data = as_datamodule(tensors())
    assert presets.model_threat(training, data, norm, eps) == pytest.approx(expected)


def test_the_standard_l1_radius_is_mnists_on_the_mnist_likes_and_cifars_elsewhere():
    for stats_key, radius in (("mnist", 10.0), ("fashion_mnist", 10.0), ("cifar10", 12.0), ("imagenet", 12.0)):
        assert standard_eps(SimpleNamespace(stats_key=stats_key), "l1") == radius


def test_the_pse_and_sensitivity_attacks_work_at_the_analysis_radius():
    sections, light = ["pse", "dissection"], DissectionSettings(num_concept_images=8)
    analysis = Analysis(foreign_model(), tensors(), sections, eps=0.2, dissection=light)
    assert analysis.pse_attacks["pgd"].eps == pytest.approx(0.2)
    assert analysis.sensitivity_attack.eps == pytest.approx(0.2)
