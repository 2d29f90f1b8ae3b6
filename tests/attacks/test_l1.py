"""The ℓ1 threat model: the exact projection onto the ℓ1 ball, the sparse box-aware ascent step,
PGD and APGD at ℓ1 on a trained model, AutoAttack's ℓ1 version, and the robustness section and
``evaluate`` under ``norm="l1"``."""

import pytest
import torch

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import APGD, CW, EAD, PGD, presets
from lightning_pse.attacks.apgd_l1 import phase_radii
from lightning_pse.attacks.radii import REFERENCE_EPS
from lightning_pse.attacks.threat import L1Threat, project_l1_ball
from lightning_pse.sections.autoattack import AUTOATTACK_ATTACKS, autoattack_robust

from helpers import TinyNet, data


def projection_by_bisection(v: torch.Tensor, eps: float, room: torch.Tensor | None = None) -> torch.Tensor:
    """The oracle: soft-threshold each row at the λ where its ℓ1 norm is ε, capped at the box's room in
    each coordinate's direction (none: no box), λ found by bisection in float64."""
    v = v.double()
    room = torch.full_like(v, torch.inf) if room is None else room.double()

    def shrunk(lam):
        return torch.minimum((v.abs() - lam).clamp(min=0), room)

    low, high = torch.zeros(v.shape[0], 1, dtype=torch.float64), v.abs().amax(dim=1, keepdim=True)
    for _ in range(200):
        lam = (low + high) / 2
        too_big = shrunk(lam).sum(dim=1, keepdim=True) > eps
        low, high = torch.where(too_big, lam, low), torch.where(too_big, high, lam)
    lam = torch.where(shrunk(0).sum(dim=1, keepdim=True) > eps, (low + high) / 2, 0)
    return v.sign() * shrunk(lam)


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


def test_projection_onto_the_l1_ball_and_the_box_is_the_nearest_point_of_both():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(16, 3, 8, 8, generator=generator, dtype=torch.float64)
    x[:, :, :4] = torch.randint(0, 2, (16, 3, 4, 8), generator=generator).double()  # pixels at the box's walls
    scale = torch.linspace(0.1, 2, 16, dtype=torch.float64).view(-1, 1, 1, 1)
    v = torch.randn(16, 3, 8, 8, generator=generator, dtype=torch.float64) * scale
    eps = 40.0
    projected = project_l1_ball(v, eps, -x, 1 - x)
    room = torch.where(v >= 0, 1 - x, x).flatten(1)
    oracle = projection_by_bisection(v.flatten(1), eps, room)
    torch.testing.assert_close(projected.flatten(1), oracle, rtol=0, atol=1e-9)
    clipped = v.flatten(1).sign() * torch.minimum(v.flatten(1).abs(), room)
    in_ball = clipped.abs().sum(dim=1) <= eps
    assert 0 < in_ball.sum() < 16, "rows whose clipped point is in the ball and rows it is not"
    assert torch.equal(projected.flatten(1)[in_ball], clipped[in_ball]), "then the projection only clips"
    assert ((x + projected) >= 0).all() and ((x + projected) <= 1).all()
    assert (projected.flatten(1).abs().sum(dim=1) <= eps + 1e-9).all()
    ball_then_box = (x + project_l1_ball(v, eps)).clamp(0, 1) - x
    farther = (ball_then_box - v).flatten(1).norm(dim=1) - (projected - v).flatten(1).norm(dim=1)
    assert (farther >= -1e-9).all() and (farther[~in_ball] > 1e-6).any(), "nearer than projecting, then clipping"


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


def test_the_sparse_step_takes_a_sparsity_per_sample_and_never_a_stopped_pixel():
    x = torch.full((2, 1, 10, 10), 0.5)
    grad = torch.zeros_like(x)
    grad[:, 0, 0, :5] = torch.tensor([5.0, -4.0, 3.0, 2.0, 1.0])
    x[:, 0, 0, 0] = 1.0  # stopped by the box in both samples
    step = L1Threat(eps=3.0).step(x, torch.zeros_like(x), grad, 0.8, sparsity=torch.tensor([0.02, 1.0]))
    assert step[0, 0, 0, 1:3].tolist() == pytest.approx([-0.4, 0.4]), "two coordinates in the first sample"
    assert step[1, 0, 0, 1:5].tolist() == pytest.approx([-0.2, 0.2, 0.2, 0.2]), "every movable one in the second"
    assert (step[:, 0, 0, 0] == 0).all() and step.flatten(1).abs().sum(dim=1).tolist() == pytest.approx([0.8, 0.8])


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


class FlipsAtTwo(torch.nn.Module):
    """Two classes: class 0 scores 2, class 1 scores ``Σ (x − 0.5)``; from x = 0.5 it takes ℓ1 > 2 to flip."""

    def __init__(self) -> None:
        super().__init__()
        self.sum = torch.nn.Linear(16, 1, bias=False)
        torch.nn.init.ones_(self.sum.weight)

    def forward(self, x):
        score = self.sum((x - 0.5).flatten(1)).squeeze(1)
        return torch.stack([torch.full_like(score, 2.0), score], dim=1)


@pytest.mark.parametrize("large_radii", [True, False])
def test_apgd_l1_counts_successes_only_at_epsilon(large_radii):
    assert phase_radii(1.0, 100, True) == [(3.0, 30), (2.0, 30), (1.0, 40)]
    assert phase_radii(1.0, 100, False) == [(1.0, 100)] and phase_radii(1.0, 4, True) == [(1.0, 4)], "too few steps"
    x, y = torch.full((3, 1, 4, 4), 0.5), torch.zeros(3, dtype=torch.long)
    held = APGD(eps=1.9, steps=10, norm="l1", large_radii=large_radii, seed=0).run(FlipsAtTwo(), x, y)
    assert not held.success.any(), "3ε and 2ε would flip it: the phases at larger radii must not count"
    assert held.l1.max() <= 1.9 * (1 + 1e-6)
    broken = APGD(eps=2.5, steps=10, norm="l1", large_radii=large_radii, seed=0).run(FlipsAtTwo(), x, y)
    assert broken.success.all() and broken.l1.max() <= 2.5 * (1 + 1e-6)


@pytest.mark.slow  # an AutoAttack oracle run: about 20 s
def test_apgd_l1_is_as_strong_as_autoattacks(trained_model, synthetic_data):
    """The oracle: AutoAttack's own APGD-CE at ℓ1 (with its larger radii first), same images, same budget."""
    from pyautoattack.autopgd_base import APGDAttack

    batch = next(iter(torch.utils.data.DataLoader(synthetic_data.split("val"), batch_size=32)))
    x, y = batch["image"], batch["label"]
    eps = 4.0  # about a quarter of these images survive either attack
    reference = APGDAttack(trained_model, norm="L1", eps=eps, n_iter=100, loss="ce", use_largereps=True, seed=0)
    with torch.no_grad():
        clean = trained_model(x).argmax(1) == y
        reference_robust = int((clean & (trained_model(reference.perturb(x, y)).argmax(1) == y)).sum())
    ours = APGD(eps=eps, norm="l1", steps=100, seed=0).run(trained_model, x, y)
    robust = int((clean & ~ours.success).sum())
    assert 2 <= reference_robust <= int(clean.sum()) - 8, "a radius where the comparison says something"
    assert robust <= reference_robust + 3, f"ours leaves {robust} robust, AutoAttack's APGD-ℓ1 {reference_robust}"


def test_the_per_epoch_l1_attack_is_apgd_and_stronger_than_pgd20_at_the_same_cost(trained_model, synthetic_data):
    batch = next(iter(torch.utils.data.DataLoader(synthetic_data.split("val"), batch_size=32)))
    x, y = batch["image"], batch["label"]
    per_epoch, pgd20 = presets.robust_eval(4.0, "l1"), presets.pgd20(4.0, "l1")
    assert isinstance(per_epoch, APGD) and per_epoch.steps == pgd20.steps == 20
    assert isinstance(presets.robust_eval(8 / 255, "linf"), PGD), "ℓ∞ and ℓ2 keep PGD-20"
    robust = {name: int((~attack.run(trained_model, x, y).success).sum()) for name, attack in
              {"apgd": per_epoch, "pgd": pgd20}.items()}  # fmt: skip
    assert robust["apgd"] < robust["pgd"] - 4, robust


@pytest.mark.slow
def test_autoattack_l1_runs_croce_and_heins_standard_version():
    x, y = data(4)
    model = TinyNet()
    assert not autoattack_robust(model, x, y, eps=300.0, norm="l1", seed=0)[0].any(), "ℓ1 300 breaks the tiny net"
    assert autoattack_robust(model, x, y, eps=1e-4, norm="l1", seed=0)[0].all(), "a radius too small to move it"
    assert AUTOATTACK_ATTACKS["standard"] == ["apgd-ce", "apgd-t", "fab-t", "square"]


def test_the_l1_cascade_adds_ead_judged_at_epsilon_to_square_l1():
    attacks = presets.autoattack_like(12.0, num_classes=10, norm="l1")
    assert attacks["square"].norm == "l1" and attacks["ead_l1"].norm == "l1" and not attacks["ead_l1"].bounded
    assert attacks["apgd_ce"].restarts == 5, "AutoAttack's ℓ1 version restarts APGD-CE 5 times"
    assert presets.autoattack_like(8 / 255, num_classes=10)["apgd_ce"].restarts == 1, "and ℓ∞ once"
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
