"""Properties of the pixel- and unit-level science that a one-line fault breaks: group coverage on
image sizes the group size does not divide, the inactivity threshold ρ taken per image, and unit
sensitivity as the mean of absolute changes."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from lightning_pse.groups import GroupGrid
from lightning_pse.pse import Category, UnitSensitivity, analyze, categorize, energy_shares, image_type, unit_effects
from lightning_pse.pse.effects import group_energy


@pytest.mark.parametrize(("size", "group", "groups_per_side"), [(30, 4, 8), (224, 13, 18), (28, 3, 10), (32, 2, 16)])
def test_groups_cover_every_pixel_once_and_keep_the_energy(size, group, groups_per_side):
    """Windows run past the edge (zero-padded), so the partial last row and column are groups too:
    every pixel lies in exactly one group and the group energies add up to ‖δ‖²."""
    grid = GroupGrid(size, size, group)
    assert grid.shape == (groups_per_side, groups_per_side)
    assert torch.equal(grid.coverage(), torch.ones(1, 1, size, size))
    delta = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    energy = group_energy(grid, delta)
    assert energy.shape == (2, groups_per_side**2)
    assert torch.allclose(energy.sum(dim=1), delta.square().flatten(1).sum(dim=1))
    ids = torch.arange(grid.num_groups, dtype=torch.float64).view(1, *grid.shape)
    pixels = grid.to_pixels(ids)
    assert pixels.shape == (1, size, size) and (pixels >= 0).all(), "every pixel belongs to a group"
    assert pixels[0, -1, -1] == grid.num_groups - 1, "the last pixel is in the last (partial) group"


def test_analysis_on_an_undivided_size_assigns_the_edge_pixels():
    """On 30-px images with 4-px groups a perturbation only in the last two rows and columns is seen."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 30 * 30, 4)).eval()
    x = torch.rand(2, 3, 30, 30) * 0.5
    x_adv = x.clone()
    x_adv[..., 28:, :] += 0.3
    x_adv[..., :, 28:] += 0.3
    result = analyze(model, x, x_adv, torch.tensor([0, 1]), torch.tensor([2, 3]), group_size=4)
    assert result.energy.sum() == pytest.approx(float((x_adv - x).square().sum()), rel=1e-5)
    edge = result.category_mask(Category.INACTIVE)[:, 28:, :]
    assert not edge.all(), "the edge groups carry the whole perturbation, so some of them are active"


def test_rho_is_relative_to_each_images_own_strongest_group():
    """Two images, the second's effects 1000 times weaker: its groups are judged against its own
    strongest group, so it gets the categories it gets alone (not all inactive)."""
    generator = torch.Generator().manual_seed(0)
    promotion = torch.rand(2, 64, generator=generator)
    suppression = torch.rand(2, 64, generator=generator)
    promotion[1] *= 1e-3
    suppression[1] *= 1e-3
    energy = torch.ones(2, 64)
    together = categorize(promotion, suppression, energy, rho=0.05)
    for i in range(2):
        alone = categorize(promotion[i : i + 1], suppression[i : i + 1], energy[i : i + 1], rho=0.05)
        assert torch.equal(together[i], alone[0]), i
    assert (together[1] != int(Category.INACTIVE)).sum() > 32
    weak = torch.zeros(1, 64)
    weak[0, 0], weak[0, 1] = 1.0, 0.04
    cut = categorize(weak, torch.zeros(1, 64), torch.ones(1, 64), rho=0.05)
    assert cut[0, 0] == int(Category.PROMOTION) and cut[0, 1] == int(Category.INACTIVE), "below ρ·max is inactive"
    harmless = categorize(-torch.rand(1, 64, generator=generator), torch.zeros(1, 64), torch.ones(1, 64))
    assert (harmless == int(Category.INACTIVE)).all(), "a perturbation with no positive effect has no active group"


def test_energy_shares_are_over_the_active_groups_only():
    """Per image the three active categories' shares of ‖δ_G‖² add up to 1; inactive energy is left out."""
    category = torch.tensor([[1, 1, 2, 3, 0, 0], [0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]])
    energy = torch.tensor([[1.0, 1.0, 2.0, 4.0, 100.0, 100.0], [1.0] * 6, [0.5, 9.0, 9.0, 9.0, 9.0, 9.0]])
    shares = energy_shares(category, energy)
    expected = torch.tensor([[0.0, 0.25, 0.25, 0.5], [0.0] * 4, [0.0, 0.0, 1.0, 0.0]])
    assert torch.allclose(shares, expected)
    assert torch.equal(image_type(shares), torch.tensor([int(Category.BALANCED), int(Category.INACTIVE), 2]))


def layer_model(channels: int = 4) -> nn.Module:
    """``layer`` passes the image through, so its units' spatial means are the channels' means."""
    return nn.Sequential(
        OrderedDict(layer=nn.Identity(), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), head=nn.Linear(channels, 3))
    ).eval()


def test_unit_sensitivity_is_the_mean_absolute_change_over_the_mean_activation():
    """Changes of opposite sign on two images do not cancel: s_k = mean_x |Δā_k| / (mean_x ā_k + ε)."""
    model = layer_model()
    x = torch.full((2, 4, 6, 6), 0.5)
    x[1] = 0.25
    x_adv = x.clone()
    x_adv[0, 0] += 0.2  # unit 0: +0.2 on image 0, −0.2 on image 1 (mean change 0)
    x_adv[1, 0] -= 0.2
    x_adv[:, 1] += 0.1  # unit 1: +0.1 on both
    clean = x.mean(dim=(2, 3))
    change = x_adv.mean(dim=(2, 3)) - clean
    expected = change.abs().mean(dim=0) / (clean.mean(dim=0) + 1e-12)
    effects = unit_effects(model, "layer", x, x_adv)
    assert torch.allclose(effects.sensitivity, expected)
    assert effects.sensitivity[0] == pytest.approx(0.2 / 0.375, rel=1e-5) and effects.sensitivity[3] == 0
    for batches in ([slice(0, 2)], [slice(0, 1), slice(1, 2)]):  # one batch of both, or one image each
        metric = UnitSensitivity(4)
        for rows in batches:
            metric.update(unit_effects(model, "layer", x[rows], x_adv[rows]))
        assert torch.allclose(metric.compute().double(), expected.double(), atol=1e-6), batches
