"""Randomized models: detected before any attack, reported, attacked with EOT and AutoAttack's rand
version; deterministic models are attacked as before; every AutoAttack version runs."""

import pytest
import torch
import torch.nn.functional as F

from lightning_pse.analysis import Analysis
from lightning_pse.attacks import PGD
from lightning_pse.attacks.base import input_gradient
from lightning_pse.attacks.randomness import is_randomized
from lightning_pse.sections.autoattack import AUTOATTACK_ATTACKS, autoattack_robust

from helpers import TinyNet, data


def test_two_passes_tell_a_randomized_model_from_a_deterministic_one():
    x, _ = data()
    noisy, plain = TinyNet(dropout=0.3), TinyNet()
    noisy.train()
    assert is_randomized(noisy, x) and not is_randomized(plain, x)
    assert noisy.training, "the model's mode is restored"


def test_eot_gradient_is_the_mean_of_single_sample_gradients():
    x, y = data()
    model = TinyNet(dropout=0.3)
    objective = lambda logits: F.cross_entropy(logits, y, reduction="none")  # noqa: E731
    torch.manual_seed(1)
    grad, values, _ = input_gradient(model, x, objective, samples=4)
    torch.manual_seed(1)
    singles = [input_gradient(model, x, objective) for _ in range(4)]
    assert torch.allclose(grad, sum(g for g, _, _ in singles) / 4, atol=1e-7)
    assert torch.allclose(values, sum(v for _, v, _ in singles) / 4, atol=1e-6)
    assert not torch.allclose(singles[0][0], singles[1][0]), "the samples differ: the mean is not trivial"


def count_forwards(model):
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    return calls


@pytest.mark.parametrize("dropout", [0.3, 0.0], ids=["randomized", "deterministic"])
def test_a_randomized_model_is_reported_and_attacked_with_eot_and_autoattack_rand(dropout):
    x, y = data()
    model = TinyNet(dropout=dropout)
    analysis = Analysis(
        model,
        (x, y),
        ["robustness"],
        num_samples=8,
        eps=8 / 255,
        robustness="autoattack",
        eot_samples=5,
        attacks={"pgd": PGD(eps=8 / 255, steps=3, seed=0, early_stop=False)},
        progress="lines",
    )
    calls = count_forwards(model)
    analysis.attacks["pgd"](model, x, y)
    randomized = dropout > 0
    assert analysis.randomized is randomized
    assert len(calls) == 3 * (5 if randomized else 1), "EOT passes per gradient only for the randomized model"
    report, _ = analysis.run()
    assert report["randomized"] is randomized and report["settings"]["eot_samples"] == (5 if randomized else 1)
    assert report["autoattack"]["version"] == ("rand" if randomized else "standard")
    assert report["autoattack"]["attacks"] == AUTOATTACK_ATTACKS["rand" if randomized else "standard"]
    notes = " ".join(report["findings"]["notes"])
    assert ("randomized" in notes and "EOT" in notes) is randomized


@pytest.mark.parametrize("version", ["standard", "plus", "rand"])
def test_every_autoattack_version_runs(version):
    x, y = data(4)
    model = TinyNet()
    robust, _ = autoattack_robust(model, x, y, eps=0.3, norm="linf", seed=0, version=version)
    assert robust.shape == (4,) and robust.dtype == torch.bool
    assert not robust.any(), "ε = 0.3 breaks this tiny net everywhere"
