"""The ℓ1 threat model: the exact projection onto the ℓ1 ball, the sparse box-aware ascent step,
PGD and APGD at ℓ1 on a trained model, AutoAttack's ℓ1 version, and the robustness section and
``evaluate`` under ``norm="l1"``."""

import pytest
import torch

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import APGD, CW, EAD, PGD, presets
from lightning_pse.attacks.threat import L1Threat, project_l1_ball
from lightning_pse.data.stats import REFERENCE_EPS
from lightning_pse.sections.autoattack import AUTOATTACK_ATTACKS, autoattack_robust

from helpers import TinyNet, data


def projection_by_bisection(v: torch.Tensor, eps: float) -> torch.Tensor:
    """The oracle: soft-threshold each row at the θ where its ℓ1 norm is ε, θ found by bisection in float64."""
    v = v.double()
    low, high = torch.zeros(v.shape[0], 1, dtype=torch.float64), v.abs().amax(dim=1, keepdim=True)
    for _ in range(200):
        theta = (low + high) / 2
        too_big = (v.abs() - theta).clamp(min=0).sum(dim=1, keepdim=True) > eps
        low, high = torch.where(too_big, theta, low), torch.where(too_big, high, theta)
    shrunk = v.sign() * (v.abs() - (low + high) / 2).clamp(min=0)
    return torch.where(v.abs().sum(dim=1, keepdim=True) > eps, shrunk, v)


def test_projection_onto_the_l1_ball_is_the_nearest_point_of_the_ball():
    generator = torch.Generator().manual_seed(0)
    scale = torch.rand(16, 1, 1, 1, generator=generator, dtype=torch.float64) * 2
    v = torch.randn(16, 3, 8, 8, generator=generator, dtype=torch.float64) * scale
    eps = 120.0
    inside = v.flatten(1).abs().sum(dim=1) <= eps
    assert 0 < inside.sum() < 16, "rows inside and outside the ball"
    projected = project_l1_ball(v, eps)
    torch.testing.assert_close(projected.flatten(1), projection_by_bisection(v.flatten(1), eps), rtol=0, atol=1e-9)
    assert torch.equal(projected[inside], v[inside]), "points of the ball stay where they are"
    assert torch.allclose(projected[~inside].flatten(1).abs().sum(dim=1), torch.tensor(eps, dtype=torch.float64))


def test_the_sparse_step_has_unit_l1_norm_follows_the_gradient_and_skips_pixels_the_box_stops():
    x = torch.full((2, 1, 10, 10), 0.5)
    grad = torch.zeros_like(x)
    grad[:, 0, 0, :5] = torch.tensor([5.0, -4.0, 3.0, 2.0, 1.0])
    x[0, 0, 0, 0] = 1.0  # the largest gradient pushes this pixel up, but it is at the box's top
    threat = L1Threat(eps=3.0, sparsity=0.02)  # two coordinates of 100
    step = threat.step(x, torch.zeros_like(x), grad, step_size=0.6)
    assert step.flatten(1).abs().sum(dim=1).tolist() == pytest.approx([0.6, 0.6])
    assert step[1, 0, 0, :2].tolist() == pytest.approx([0.3, -0.3]), "the two largest gradients, their signs"
    assert step[0, 0, 0, 0] == 0, "the pixel the box stops is left out"
    assert step[0, 0, 0, 1:3].tolist() == pytest.approx([-0.3, 0.3])


@pytest.mark.parametrize("kind", [PGD, APGD])
def test_pgd_and_apgd_at_l1_stay_in_the_ball_and_beat_same_size_noise(kind, trained_model, synthetic_data):
    attack = kind(eps=6.0, steps=20, norm="l1", seed=0)
    batch = next(iter(torch.utils.data.DataLoader(synthetic_data.split("val"), batch_size=32)))
    x, y = batch["image"], batch["label"]
    result = attack.run(trained_model, x, y)
    assert result.l1.max() <= 6.0 * (1 + 1e-5) and 0 <= result.x_adv.min() and result.x_adv.max() <= 1
    noise = L1Threat(6.0).random_start(x, torch.Generator().manual_seed(0))
    noise = noise * 6.0 / noise.flatten(1).abs().sum(dim=1).view(-1, 1, 1, 1)  # on the sphere: as large as allowed
    with torch.no_grad():
        clean = trained_model(x).argmax(1) == y
        noisy = trained_model((x + noise).clamp(0, 1)).argmax(1) == y
    attacked = ~result.success & clean
    assert attacked.sum() < noisy.sum() - 8, f"attack leaves {int(attacked.sum())} correct, noise {int(noisy.sum())}"


@pytest.mark.slow
def test_autoattack_l1_runs_croce_and_heins_standard_version():
    x, y = data(4)
    model = TinyNet()
    assert not autoattack_robust(model, x, y, eps=300.0, norm="l1", seed=0).any(), "ℓ1 300 breaks the tiny net"
    assert autoattack_robust(model, x, y, eps=1e-4, norm="l1", seed=0).all(), "a radius too small to move it"
    assert AUTOATTACK_ATTACKS["standard"] == ["apgd-ce", "apgd-t", "fab-t", "square"]


def test_the_l1_cascade_judges_ead_at_epsilon_and_leaves_square_out():
    attacks = presets.autoattack_like(12.0, num_classes=10, norm="l1")
    assert "square" not in attacks and attacks["ead_l1"].norm == "l1" and not attacks["ead_l1"].bounded
    assert all(a.norm == "l1" for k, a in attacks.items() if a.bounded)
    assert presets.unbounded_radius("l1", "l1", 12.0) == 12.0
    assert presets.unbounded_radius("l2", "l1", 12.0) == REFERENCE_EPS["l2"]
    assert presets.unbounded_radius("l1", "linf", 8 / 255) == REFERENCE_EPS["l1"]


def test_evaluate_at_l1_reports_the_threat_model_and_the_l1_sizes(trained_model, synthetic_data):
    eps = 4.0
    attacks = {
        "pgd": PGD(eps=eps, steps=10, norm="l1", seed=0),
        "ead": EAD(steps=30, binary_search_steps=3, initial_const=1.0, seed=0),
        "cw": CW(steps=30, binary_search_steps=3, initial_const=1.0, seed=0),
    }
    report = evaluate(
        trained_model, synthetic_data, ["robustness"], norm="l1", eps=eps, attacks=attacks, num_samples=16
    )
    assert report["norm"] == "l1" and report["eps"] == eps
    assert report["threat_model"]["norm"] == "l1"
    assert report["worst_case"]["over"] == ["pgd", "ead"], "C&W ℓ2 is judged outside the ℓ1 threat model"
    ead = report["attacks"]["ead"]
    assert ead["norm"] == "l1" and ead["eps"] == eps and ead["in_threat_model"]
    assert ead["robust"] < report["clean"]["count"], "EAD breaks some samples within ε"
    assert ead["mean_l1"] <= eps * (1 + 1e-6), "EAD counts a sample as broken only within ε"
    assert report["attacks"]["pgd"]["mean_l1"] <= eps * (1 + 1e-5)
    assert report["attacks"]["cw"]["norm"] == "l2" and report["attacks"]["cw"]["eps"] == REFERENCE_EPS["l2"]
    assert any("under ℓ1 our attacks are much weaker" in flag for flag in report["sanity"])
