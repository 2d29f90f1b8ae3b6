"""``counting_passes``: forward and backward image-passes through a model, whoever calls it,
pinned by hand counts on PGD and by a model that counts its own calls under AutoAttack."""

import torch
from torch import nn

from lightning_pse.attacks import PGD
from lightning_pse.models.passes import PassCount, counting_passes
from lightning_pse.sections.autoattack import autoattack_robust

from helpers import TinyNet, data


class SelfCounting(nn.Module):
    """``TinyNet`` that counts the images of its own forward calls (the oracle)."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.images = TinyNet(), 0

    def forward(self, x):
        self.images += x.shape[0]
        return self.net(x)


def test_pgd_costs_one_forward_and_backward_per_step_and_image_plus_the_final_evaluation():
    """5 steps on 4 images, no random start, no early stop: 5 × 4 = 20 gradients (each one forward
    and one backward pass), then one forward pass of the 4 adversarial images: 24 and 20."""
    x, y = data(4)
    result = PGD(eps=0.03, steps=5, random_start=False, early_stop=False).run(TinyNet(), x, y)
    assert result.passes == PassCount(forward=24, backward=20)


def test_forward_passes_under_no_grad_have_no_backward_and_the_hooks_go_away():
    model, (x, _) = TinyNet(), data(3)
    with counting_passes(model) as count:
        with torch.no_grad():
            model(x)
        x_grad = x.clone().requires_grad_(True)
        torch.autograd.grad(model(x_grad).sum(), x_grad)
        torch.autograd.grad(model(x_grad).sum(), x_grad)
    assert count == PassCount(forward=9, backward=6)
    model(x)
    assert count == PassCount(forward=9, backward=6) and not model._forward_hooks, "counting stops on exit"


def test_autoattack_passes_are_counted_on_the_model_it_calls():
    model, (x, y) = SelfCounting(), data(4)
    _, passes = autoattack_robust(model, x, y, eps=8 / 255, norm="linf", seed=0)
    assert passes.forward == model.images - 1, "every image AutoAttack sent through the model (less our class probe)"
    assert 0 < passes.backward <= passes.forward
