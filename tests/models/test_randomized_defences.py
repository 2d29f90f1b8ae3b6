"""The randomized input defences: what each draws, that it keeps the input's shape and the gradient
path, that it is random at inference, and that an analysis sees it as randomized (EOT)."""

import pytest
import torch
from torch import nn

from lightning_pse.analysis import Analysis
from lightning_pse.attacks import PGD
from lightning_pse.attacks.randomness import DEFAULT_EOT_SAMPLES, is_randomized
from lightning_pse.errors import UserInputError
from lightning_pse.models.randomized import GaussianNoiseDefence, ResizePadDefence


def test_the_noise_defence_adds_clipped_gaussian_noise_of_its_sigma():
    x = torch.full((4, 1, 16, 16), 0.5)
    defence = GaussianNoiseDefence(nn.Identity(), sigma=0.02).eval()
    torch.manual_seed(3)
    out = defence(x)
    torch.manual_seed(3)
    assert torch.equal(out, (x + 0.02 * torch.randn_like(x)).clamp(0, 1))
    assert abs(float(out.mean()) - 0.5) < 2e-3 and abs(float((out - x).std()) - 0.02) < 2e-3
    edge = GaussianNoiseDefence(nn.Identity(), sigma=0.5)(torch.ones(2, 1, 8, 8))
    assert float(edge.max()) == 1.0 and float(edge.min()) >= 0.0, "clipped to the pixel range"


def test_the_resize_pad_defence_shrinks_by_up_to_its_pixels_and_pads_back_at_a_random_offset():
    x = torch.ones(2, 3, 12, 12)
    defence = ResizePadDefence(nn.Identity(), shrink=3).eval()
    cuts, corners = set(), set()
    torch.manual_seed(0)
    for _ in range(200):
        out = defence(x)
        assert out.shape == x.shape
        kept = out[0, 0] > 0  # the resized image of ones; zeros where it was padded
        rows, cols = kept.any(1).nonzero().squeeze(1), kept.any(0).nonzero().squeeze(1)
        side = len(rows)
        assert len(cols) == side and int(kept.sum()) == side * side, "a square block, padded with zeros"
        cuts.add(12 - side)
        corners.add((int(rows[0]), int(cols[0])))
        assert int(rows[-1]) < 12 and int(cols[-1]) < 12
    assert cuts == {0, 1, 2, 3}, "every side from H − shrink to H is drawn"
    assert {(0, 0), (3, 3), (0, 3), (3, 0)} <= corners, "every offset that keeps the image inside"


@pytest.mark.parametrize("defence", [GaussianNoiseDefence(nn.Identity(), 0.05), ResizePadDefence(nn.Identity(), 2)])
def test_a_defence_is_random_at_inference_and_keeps_the_gradient(defence):
    model = nn.Sequential(defence, nn.Flatten(), nn.Linear(3 * 10 * 10, 4))
    x = torch.rand(3, 3, 10, 10, requires_grad=True)
    assert is_randomized(model.eval(), x.detach())
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert grad.abs().sum() > 0


def test_defences_refuse_settings_that_make_no_defence():
    with pytest.raises(UserInputError, match="sigma > 0"):
        GaussianNoiseDefence(nn.Identity(), 0.0)
    with pytest.raises(UserInputError, match="shrink ≥ 1"):
        ResizePadDefence(nn.Identity(), 0)
    with pytest.raises(UserInputError, match="not below the image side"):
        ResizePadDefence(nn.Identity(), 8)(torch.zeros(1, 1, 8, 8))


def test_an_analysis_attacks_a_defended_model_with_eot(trained_model, synthetic_data):
    defended = GaussianNoiseDefence(trained_model, sigma=0.05)
    light = {"attacks": {"pgd": PGD(eps=8 / 255, steps=1, seed=0)}, "num_samples": 4, "progress": "lines"}
    analysis = Analysis(defended, synthetic_data, ["robustness"], robustness="autoattack", **light)
    assert analysis.randomized and analysis.eot_samples == DEFAULT_EOT_SAMPLES
    assert analysis.autoattack_version == "rand"
    undefended = Analysis(trained_model, synthetic_data, ["robustness"], robustness="autoattack", **light)
    assert not undefended.randomized and undefended.eot_samples == 1 and undefended.autoattack_version == "standard"
