"""Pixel-level PSE: closed-form cases, estimator agreement, categories, ground truth."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_pse.attacks import PGD
from lightning_pse.models import build_model
from lightning_pse.pse import (
    Category,
    GroupGrid,
    PSEShares,
    analyze,
    categorize,
    concentration,
    energy_shares,
    psr,
    unit_effects,
)
from lightning_pse.pse.categories import clamped, promotion_fraction
from lightning_pse.sections.pse import unclamped_median_psr

from helpers import LinearLogits


def _linear_case():
    # Class 0 (true) reads the left half, class 1 (target) the right half, class 2 nothing.
    w = torch.zeros(3, 1, 4, 4)
    w[0, :, :, :2] = 1.0
    w[1, :, :, 2:] = 1.0
    model = LinearLogits(w.view(3, 16))
    x = torch.full((1, 1, 4, 4), 0.5)
    return model, x, torch.tensor([0]), torch.tensor([1])


def test_perturbation_on_target_pixels_is_promotion_dominated():
    model, x, y, t = _linear_case()
    x_adv = x.clone()
    x_adv[..., 2:] += 0.1  # raises Z_1 only
    result = analyze(model, x, x_adv, y, t, group_size=2)
    cats = result.category[0]
    assert (cats[:, 1] == Category.PROMOTION).all() and (cats[:, 0] == Category.INACTIVE).all()
    torch.testing.assert_close(result.promotion[0, :, 1], torch.full((2,), 0.4))
    assert result.image_type.item() == Category.PROMOTION


def test_perturbation_on_true_class_pixels_is_suppression_dominated():
    model, x, y, t = _linear_case()
    x_adv = x.clone()
    x_adv[..., :2] -= 0.1  # lowers Z_0 only
    result = analyze(model, x, x_adv, y, t, group_size=2)
    assert (result.category[0, :, 0] == Category.SUPPRESSION).all()
    torch.testing.assert_close(result.suppression[0, :, 0], torch.full((2,), 0.4))
    assert result.image_type.item() == Category.SUPPRESSION


def test_a_group_doing_both_is_balanced():
    w = torch.zeros(3, 1, 4, 4)
    w[0, :, :2, :2] = -1.0  # the top-left group lowers Z_0 ...
    w[1, :, :2, :2] = 1.0  # ... and raises Z_1 as much
    model = LinearLogits(w.view(3, 16))
    x = torch.full((1, 1, 4, 4), 0.5)
    x_adv = x.clone()
    x_adv[..., :2, :2] += 0.2
    result = analyze(model, x, x_adv, torch.tensor([0]), torch.tensor([1]), group_size=2)
    assert result.category[0, 0, 0] == Category.BALANCED
    assert abs(result.psr[0, 0, 0].item()) < 1e-5


@pytest.mark.parametrize("group_size, stride", [(2, None), (3, 1), (2, 1)])
def test_estimators_agree_exactly_on_a_linear_model(group_size, stride):
    torch.manual_seed(0)
    model = LinearLogits(torch.randn(3, 16))
    x = torch.rand(5, 1, 4, 4) * 0.5 + 0.25
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    y, t = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    a = analyze(model, x, x_adv, y, t, group_size=group_size, stride=stride, estimator="ablation")
    g = analyze(model, x, x_adv, y, t, group_size=group_size, stride=stride, estimator="gradient")
    torch.testing.assert_close(a.promotion, g.promotion, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.suppression, g.suppression, atol=1e-5, rtol=1e-5)
    assert torch.equal(a.category, g.category)


def test_ablation_matches_a_direct_loop_on_a_cnn():
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, width=8)
    model.eval()
    x = torch.rand(2, 3, 8, 8)
    x_adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    y, t = torch.tensor([1, 2]), torch.tensor([3, 4])
    result = analyze(model, x, x_adv, y, t, group_size=4, max_batch=3)
    grid = GroupGrid(8, 8, 4)
    with torch.no_grad():
        clean = model(x)
        for b in range(2):
            for gi in range(2):
                for gj in range(2):
                    part = torch.zeros_like(x[b : b + 1])
                    part[..., 4 * gi : 4 * gi + 4, 4 * gj : 4 * gj + 4] = (x_adv - x)[
                        b : b + 1, :, 4 * gi : 4 * gi + 4, 4 * gj : 4 * gj + 4
                    ]
                    z = model(x[b : b + 1] + part)[0]
                    assert abs(result.promotion[b, gi, gj] - (z[t[b]] - clean[b, t[b]])) < 1e-5
                    assert abs(result.suppression[b, gi, gj] - (clean[b, y[b]] - z[y[b]])) < 1e-5
    assert result.grid == grid


def test_inactive_groups_and_rho():
    promotion = torch.tensor([[1.0, 0.04, 0.0, 2.0]])
    suppression = torch.tensor([[0.1, 0.0, 0.0, 0.5]])
    energy = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    cats = categorize(promotion, suppression, energy, tau=1.0, rho=0.05)
    # 0.04 < 0.05 * 2.0 → inactive; zero energy → inactive.
    assert cats.tolist() == [[Category.PROMOTION, Category.INACTIVE, Category.INACTIVE, Category.PROMOTION]]
    assert categorize(promotion, suppression, energy, rho=0.0)[0, 1] == Category.PROMOTION


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(0, 3)), min_size=1, max_size=12))
def test_property_shares_sum_to_one_and_psr_antisymmetric(groups):
    p = torch.tensor([[g[0] for g in groups]], dtype=torch.float64)
    s = torch.tensor([[g[1] for g in groups]], dtype=torch.float64)
    e = torch.tensor([[g[2] for g in groups]], dtype=torch.float64)
    cats = categorize(p, s, e)
    shares = energy_shares(cats, e)
    total = shares.sum().item()
    assert total == pytest.approx(1.0) or total == 0.0
    torch.testing.assert_close(psr(p, s), -psr(s, p))
    swapped = categorize(s, p, e)
    expected = cats.clone()
    expected[cats == Category.PROMOTION] = Category.SUPPRESSION
    expected[cats == Category.SUPPRESSION] = Category.PROMOTION
    assert torch.equal(swapped, expected)
    perm = torch.randperm(p.shape[1])
    assert torch.equal(categorize(p[:, perm], s[:, perm], e[:, perm]), cats[:, perm])


def test_zero_perturbation_gives_no_nan_and_no_active_group(trained_model, synthetic_data):
    x = torch.stack([synthetic_data.split("val")[i]["image"] for i in range(3)])
    result = analyze(trained_model, x, x.clone(), torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.long))
    assert not torch.isnan(result.psr).any() and not torch.isnan(result.image_psr).any()
    assert (result.category == Category.INACTIVE).all() and (result.image_type == Category.INACTIVE).all()


def test_shares_metric_accumulates_over_batches():
    def fake(types, shares, psrs, p, s):
        fields = {
            "image_type": types,
            "shares": shares,
            "image_psr": psrs,
            "image_promotion": p,
            "image_suppression": s,
        }
        return type("R", (), {k: torch.tensor(v) for k, v in fields.items()})()

    metric = PSEShares()
    metric.update(fake([1, 2], [[0, 0.7, 0.2, 0.1], [0, 0.1, 0.8, 0.1]], [-2.0, 3.0], [1.0, -0.5], [3.0, 2.0]))
    metric.update(
        fake([1, 3], [[0, 0.9, 0.0, 0.1], [0, 0.3, 0.3, 0.4]], [-1.0, 0.0], [2.0, 9.0], [2.0, 9.0]),
        include=torch.tensor([True, False]),
    )
    out = metric.compute()
    # P⁺/(P⁺+S⁺) per included image: 1/4, 0 (P ≤ 0, clamped), 1/2
    assert out["promotion_fraction"].item() == pytest.approx((0.25 + 0 + 0.5) / 3)
    assert out["clamped_share"].item() == pytest.approx(1 / 3)
    assert out["num_images"] == 3
    assert out["suppression_share"].item() == pytest.approx(2 / 3)
    assert out["promotion_share"].item() == pytest.approx(1 / 3)
    assert out["suppression_energy"].item() == pytest.approx((0.7 + 0.1 + 0.9) / 3)
    assert out["mean_psr"].item() == pytest.approx(0.0)


def test_promotion_fraction_is_bounded_where_psr_is_clamped():
    p, s = torch.tensor([3.0, 0.0, -1.0, 1.0, -1.0]), torch.tensor([1.0, 2.0, 1.0, 0.0, -1.0])
    fraction = promotion_fraction(p, s)
    assert torch.allclose(fraction[:4], torch.tensor([0.75, 0.0, 0.0, 1.0])) and fraction[4].isnan()
    assert clamped(p, s).tolist() == [False, True, True, True, True]
    assert psr(p, s)[1].item() < -30, "the clamp the bounded statistic avoids"
    records = {"image_psr": [psr(p, s)[i].item() for i in range(5)], "image_promotion": p.tolist()}
    records["image_suppression"] = s.tolist()
    assert unclamped_median_psr(records) == pytest.approx(math.log2(3.0))


def test_unit_effects(trained_model, synthetic_data):
    x = torch.stack([synthetic_data.split("val")[i]["image"] for i in range(16)])
    y = torch.tensor([int(synthetic_data.split("val")[i]["label"]) for i in range(16)])
    x_adv = PGD(eps=8 / 255, steps=5, seed=0)(trained_model, x, y)
    effects = unit_effects(trained_model, None, x, x_adv)
    k = trained_model.classifier.in_features
    assert effects.change.shape == (16, k) and effects.sensitivity.shape == (k,)
    assert (effects.sensitivity >= 0).all() and effects.sensitivity.max() > 0
    assert not (effects.promoted & effects.suppressed).any()
    same = unit_effects(trained_model, "body.7", x, x)  # a dotted name works too
    assert (same.sensitivity == 0).all()


@pytest.mark.slow
def test_ground_truth_suppression_on_object_promotion_on_distractor(trained_model, synthetic_data):
    """Targeted PGD toward the distractor's class: suppression-dominated pixels concentrate on
    the main object and promotion-dominated ones on the distractor, far above their area share,
    which a random assignment of the same categories to the image's groups does not reach."""
    val = synthetic_data.split("val")
    items = [val[i] for i in range(160)]
    x = torch.stack([it["image"] for it in items])
    y = torch.stack([it["label"] for it in items])
    target = torch.stack([it["distractor_label"] for it in items])
    obj = torch.stack([it["object_mask"] for it in items])
    dist = torch.stack([it["distractor_mask"] for it in items])
    with torch.no_grad():
        correct = trained_model(x).argmax(1) == y
    attack = PGD(eps=16 / 255, steps=20, targeted=True, seed=0).run(trained_model, x, y, target=target)
    keep = correct & attack.success
    assert keep.sum() >= 40
    result = analyze(trained_model, x[keep], attack.x_adv[keep], y[keep], target[keep])

    generator = torch.Generator().manual_seed(0)
    randomised = torch.stack(
        [c.flatten()[torch.randperm(c.numel(), generator=generator)].view_as(c) for c in result.category]
    )
    for category, region in ((Category.SUPPRESSION, obj[keep]), (Category.PROMOTION, dist[keep])):
        measured = concentration(result.category_mask(category), region)
        chance = concentration(result.to_pixels((randomised == category).float()) > 0, region)
        assert measured > 2.0, f"{category.name} concentration {measured:.2f}"
        assert measured > 1.5 * chance, f"{category.name}: {measured:.2f} vs random assignment {chance:.2f}"


def test_categories_at_their_boundaries():
    """PSR exactly ±τ is balanced (P = 2, S = 1 gives log2 2 = 1 = τ), a group whose effect is
    exactly ρ times the strongest stays active (0.5 = 0.25 · 2.0, exact in binary), and an effect of
    exactly ε is clamped."""
    promotion = torch.tensor([[2.0, 1.0, 0.5, 2.0]])
    suppression = torch.tensor([[1.0, 2.0, 0.0, 0.0]])
    energy = torch.ones(1, 4)
    cats = categorize(promotion, suppression, energy, tau=1.0, rho=0.25)
    assert cats.tolist() == [[Category.BALANCED, Category.BALANCED, Category.PROMOTION, Category.PROMOTION]]
    assert categorize(promotion, suppression, energy, tau=1.0, rho=0.2501)[0, 2] == Category.INACTIVE
    assert clamped(torch.tensor([1e-12, 2e-12]), torch.tensor([1.0, 1.0])).tolist() == [True, False]
