"""captum's attribution methods as promotion/suppression estimators (``pse.attributions``): the
two that restate our estimators equal them, every method is exact on a linear model, integrated
gradients is complete, and the model is left as it was."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from lightning_pse.attacks import presets
from lightning_pse.errors import UserInputError
from lightning_pse.groups import GroupGrid
from lightning_pse.pse.attributions import ATTRIBUTION_METHODS, attribution_effects
from lightning_pse.pse.effects import ablation_effects, gradient_effects, whole_image_effects


@pytest.fixture(scope="module")
def fooled(trained_model, synthetic_data):
    """Four test images of the trained model, their ground-truth attack toward the distractor's
    class, and the 2×2 groups: ``(x, delta, y, target, grid)``."""
    probe = synthetic_data.probe_set(4, "test", seed=0)
    items = [probe[i] for i in range(4)]
    x = torch.stack([item["image"] for item in items])
    y = torch.tensor([int(item["label"]) for item in items])
    target = torch.tensor([int(item["distractor_label"]) for item in items])
    x_adv = presets.ground_truth(seed=0).run(trained_model, x, y, target).x_adv
    return x, x_adv - x, y, target, GroupGrid(32, 32, 2)


def test_feature_ablation_is_our_ablation_estimator(trained_model, fooled):
    promotion, suppression = attribution_effects("feature_ablation", trained_model, *fooled)
    expected = ablation_effects(trained_model, *fooled)
    assert promotion.abs().max() > 0.01, "the perturbation must move the logits for the comparison to mean anything"
    torch.testing.assert_close(promotion, expected[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(suppression, expected[1], atol=1e-5, rtol=1e-5)


def test_saliency_times_delta_is_our_gradient_estimator(trained_model, fooled):
    got = attribution_effects("saliency_x_delta", trained_model, *fooled)
    expected = gradient_effects(trained_model, *fooled)
    for ours, theirs in zip(expected, got):
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)


def test_integrated_gradients_is_complete(trained_model, fooled):
    """Σ_G P_G = Z_t(x') − Z_t(x) and Σ_G S_G = Z_t0(x) − Z_t0(x') up to the quadrature's error."""
    x, delta, y, target, grid = fooled
    promotion, suppression = attribution_effects("integrated_gradients", trained_model, *fooled, n_steps=64)
    whole_p, whole_s = whole_image_effects(trained_model, x, x + delta, y, target)
    torch.testing.assert_close(promotion.sum(1), whole_p, atol=0.05, rtol=0.02)
    torch.testing.assert_close(suppression.sum(1), whole_s, atol=0.05, rtol=0.02)


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_every_method_is_exact_on_a_linear_model(method):
    """On ``Z = W x + b`` every estimate of a group's effect is ``W δ_G``: the ablation estimator's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)).eval()
    x = torch.rand(3, 3, 8, 8)
    delta = torch.empty_like(x).uniform_(-0.1, 0.1)
    y, target = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 0])
    grid = GroupGrid(8, 8, 2)
    promotion, suppression = attribution_effects(method, model, x, delta, y, target, grid)
    expected = ablation_effects(model, x, delta, y, target, grid)
    torch.testing.assert_close(promotion, expected[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(suppression, expected[1], atol=1e-5, rtol=1e-4)


def test_the_model_is_left_as_it_was(trained_module, fooled):
    model = trained_module.model
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        for method in ("deeplift", "integrated_gradients"):
            attribution_effects(method, model, *fooled)
        assert all(m.training for m in model.modules())
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "BatchNorm statistics moved"
        assert all(p.grad is None for p in model.parameters())
        assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())
        relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        assert relus and all(m.inplace for m in relus), "DeepLIFT's copy, not the model, computes out of place"
    finally:
        model.eval()


def test_bad_requests_get_one_line_errors(trained_model, fooled, monkeypatch):
    x, delta, y, target, _ = fooled
    with pytest.raises(UserInputError, match="unknown attribution method 'lime'"):
        attribution_effects("lime", trained_model, *fooled)
    with pytest.raises(UserInputError, match="stride to the group size 2"):
        attribution_effects("occlusion", trained_model, x, delta, y, target, GroupGrid(32, 32, 2, 1))
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # as if captum were not installed
    with pytest.raises(UserInputError, match=r"pip install 'lightning_pse\[attribution\]'"):
        attribution_effects("deeplift", trained_model, *fooled)


def test_the_callers_random_stream_is_left_as_it_was(trained_model, fooled):
    """GradientShap draws its path points from a seeded stream of its own, not the caller's."""
    torch.manual_seed(123), np.random.seed(123)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123), np.random.seed(123)
    first = attribution_effects("gradient_shap", trained_model, *fooled)
    assert torch.equal(torch.rand(3), expected[0]) and (np.random.rand(3) == expected[1]).all()
    second = attribution_effects("gradient_shap", trained_model, *fooled)
    torch.testing.assert_close(second, first)  # seeded: the same points on every call
