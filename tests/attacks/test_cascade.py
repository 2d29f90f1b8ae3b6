"""The cascade: each stage attacks only what the earlier stages left robust, a gated stage only the
samples earlier stages brought within its margin, and the section counts robustness after each."""

import pytest
import torch

from lightning_pse.attacks.cascade import Cascade, boundary_margin, run_cascade
from lightning_pse.errors import UserInputError
from lightning_pse.sections import AttackRuns, ProbeBatch, RobustnessSection

from helpers.cascade_stubs import BreaksMarked, FirstPixels, held, images


def test_boundary_margin_by_hand():
    """``(Z_y − max_{j≠y} Z_j) / (z_π1 − z_π3)``: 2/3 for (3, 1, 0, −1) at y = 0; −2/3 when y = 1
    (misclassified); 1 when the runner-up ties with the third; free of scale and shift."""
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [3.0, 1.0, 0.0, -1.0], [2.0, 1.0, 1.0, 0.0]])
    expected = torch.tensor([2 / 3, -2 / 3, 1.0])
    assert torch.allclose(boundary_margin(logits, torch.tensor([0, 1, 0])), expected)
    assert torch.allclose(boundary_margin(5 * logits + 7, torch.tensor([0, 1, 0])), expected)


def test_each_stage_attacks_only_what_the_earlier_left_robust():
    """Four correct samples; stage ``a`` breaks markers 0.1 and 0.2, stage ``b`` (which would break
    0.2 and 0.3) sees only 0.3 and 0.4 and breaks 0.3; a sample already misclassified is never
    attacked."""
    x, y = images([[0.9, 0.5, 0.1]] * 4 + [[0.1, 0.9, 0.5]])
    first, second = BreaksMarked({0.1, 0.2}), BreaksMarked({0.2, 0.3})
    correct = FirstPixels()(x).argmax(dim=1) == y
    stages = run_cascade(FirstPixels(), x, y, correct, Cascade({"a": first, "b": second}), held)
    assert first.seen == [[0.1, 0.2, 0.3, 0.4]] and second.seen == [[0.3, 0.4]]
    assert stages["a"].broken.tolist() == [True, True, False, False, False]
    assert stages["b"].attacked.tolist() == [False, False, True, True, False]
    assert stages["b"].broken.tolist() == [False, False, True, False, False]


@pytest.mark.parametrize(
    "near, attacked", [(0.2, [False, True, False]), (0.5, [True, True, False]), (0.0, [False] * 3)]
)
def test_a_gated_stage_attacks_only_samples_near_the_boundary(near, attacked):
    """Margins after stage ``a`` (which moves nothing): (0.9 − 0.5)/(0.9 − 0.1) = 0.5, (0.9 − 0.8)/
    (0.9 − 0.1) = 0.125 and (0.9 − 0.2)/(0.9 − 0.1) = 0.875. A gate at 0.2 lets the second through,
    one at exactly 0.5 the first two (at most the threshold), one at 0 none."""
    x, y = images([[0.9, 0.5, 0.1], [0.9, 0.8, 0.1], [0.9, 0.2, 0.1]])
    gated = BreaksMarked(set())
    cascade = Cascade({"a": BreaksMarked(set()), "b": gated}, near={"b": near})
    stages = run_cascade(FirstPixels(), x, y, torch.ones(3, dtype=torch.bool), cascade, held)
    assert stages["b"].attacked.tolist() == attacked
    assert stages["b"].result is None if not any(attacked) else len(gated.seen[0]) == sum(attacked)


class Nudges(BreaksMarked):
    """Moves every sample's class-1 logit pixel to 0.85 (closer to the boundary, still correct)."""

    def perturb(self, model, x, y, target, mask):
        x_adv = x.clone()
        x_adv[:, 0, 0, 1] = 0.85
        return x_adv


def test_a_gate_takes_the_smallest_margin_over_the_earlier_stages():
    """Stage ``a`` leaves sample 0 at margin (0.9 − 0.85)/(0.9 − 0.1) = 0.0625, stage ``b`` (from
    the clean image) at 0.5: a third stage gated at 0.3 attacks it (the smallest, not the last,
    margin counts), one gated at 0.05 does not."""
    x, y = images([[0.9, 0.5, 0.1]])
    for near, expected in ((0.3, True), (0.05, False)):
        cascade = Cascade({"a": Nudges(set()), "b": BreaksMarked(set()), "c": BreaksMarked(set())}, {"c": near})
        stages = run_cascade(FirstPixels(), x, y, torch.ones(1, dtype=torch.bool), cascade, held)
        assert stages["c"].attacked.item() is expected


def test_each_stage_reports_the_smallest_margin_so_far():
    """Stage ``a`` breaks sample 1 (marker 0.2: logits (0, 0.8, 0.1), margin (0 − 0.8)/(0.8 − 0) =
    −1) and leaves sample 0 at its clean margin (0.9 − 0.5)/(0.9 − 0.1) = 0.5; stage ``b`` attacks
    sample 0 alone and nudges it to 0.0625; stage ``c`` attacks it again and returns it at 0.5, so
    its smallest so far stays 0.0625 (the last stage's margin would be 0.5, the largest 0.5 too).
    Sample 1 keeps −1; sample 2, misclassified, is attacked by none: ``inf``."""
    x, y = images([[0.9, 0.5, 0.1], [0.9, 0.8, 0.1], [0.1, 0.9, 0.5]])
    cascade = Cascade({"a": BreaksMarked({0.2}), "b": Nudges(set()), "c": BreaksMarked(set())})
    stages = run_cascade(FirstPixels(), x, y, torch.tensor([True, True, False]), cascade, held)
    assert torch.allclose(stages["a"].closest[:2], torch.tensor([0.5, -1.0]))
    assert torch.allclose(stages["b"].closest[:2], torch.tensor([0.0625, -1.0]))
    assert torch.allclose(stages["c"].closest[:2], torch.tensor([0.0625, -1.0]))
    assert stages["a"].closest[2] == stages["c"].closest[2] == float("inf")


class FirstTwoPixels(torch.nn.Module):
    def forward(self, x):
        return x[:, 0, 0, :2]


def test_with_two_classes_a_gate_lets_every_robust_sample_through():
    """No third logit to scale the margin by: a gated stage attacks every sample still robust."""
    x, y = images([[0.9, 0.5, 0.1], [0.9, 0.8, 0.1]])
    cascade = Cascade({"a": BreaksMarked(set()), "b": BreaksMarked(set())}, {"b": 0.0})
    stages = run_cascade(FirstTwoPixels(), x, y, torch.ones(2, dtype=torch.bool), cascade, held)
    assert stages["b"].attacked.tolist() == [True, True]


def test_cascade_gates_are_checked():
    with pytest.raises(UserInputError, match="no stage"):
        Cascade({"a": BreaksMarked(set())}, near={"b": 0.1})
    with pytest.raises(UserInputError, match="first stage"):
        Cascade({"a": BreaksMarked(set()), "b": BreaksMarked(set())}, near={"a": 0.1})
    with pytest.raises(UserInputError, match="near"):
        Cascade({"a": BreaksMarked(set()), "b": BreaksMarked(set())}, near={"b": -0.1})
    cheap = Cascade({"a": BreaksMarked(set()), "b": BreaksMarked(set())}, near={"b": 0.3}).cheapest()
    assert isinstance(cheap, Cascade) and cheap.near == {"b": 0.3} and list(cheap) == ["a", "b"]


def section_report(section, model, x, y):
    section.reset(x.device)
    batch = ProbeBatch.of(model, x, y)
    section.update(model, batch, AttackRuns(model, batch))
    return section.compute()


def test_the_section_counts_robustness_after_each_stage():
    """Stages break {0.1, 0.2} then {0.2, 0.3} of four correct samples (and one misclassified): the
    cascade's rows say 2 then 1 robust of 5 (after each stage), attacked 4 then 2, broke 2 then 1;
    run independently the rows say 2 and 2 robust under each alone; the worst case is 1 both ways."""
    x, y = images([[0.9, 0.5, 0.1]] * 4 + [[0.1, 0.9, 0.5]])
    stages = {"a": BreaksMarked({0.1, 0.2}), "b": BreaksMarked({0.2, 0.3})}
    cascade = section_report(RobustnessSection(Cascade(stages), "linf", 1.0), FirstPixels(), x, y)
    assert cascade["order"] == "cascade"
    rows = cascade["attacks"]
    assert (rows["a"]["robust"], rows["a"]["attacked"], rows["a"]["broke"]) == (2, 4, 2)
    assert (rows["b"]["robust"], rows["b"]["attacked"], rows["b"]["broke"]) == (1, 2, 1)
    assert rows["b"]["success_rate"] == pytest.approx(0.5)
    # each stage's one forward pass (its final evaluation) on the samples it attacked
    assert rows["a"]["passes"] == {"forward": 4, "backward": 0} and rows["b"]["passes"] == {"forward": 2, "backward": 0}
    assert cascade["passes"]["ours"] == {"forward": 6, "backward": 0}
    assert cascade["worst_case"]["count"] == 1
    independent = section_report(RobustnessSection(dict(stages), "linf", 1.0), FirstPixels(), x, y)
    assert independent["order"] == "independent"
    assert [independent["attacks"][k]["robust"] for k in "ab"] == [2, 2]
    assert independent["worst_case"]["count"] == 1
    lines = RobustnessSection.summary(cascade)
    assert any("robust accuracy after it" in line and "attacked 2, broke 1" in line for line in lines)
    renamed = {**cascade, "attacks": dict(zip(["a", "apgd_dlr_close"], cascade["attacks"].values()))}
    rows = [line for line in RobustnessSection.summary(renamed) if "robust accuracy after it" in line]
    assert len(rows) == 2 and len({row.index(" robust accuracy") for row in rows}) == 1, "names padded to one column"
    page = "".join(RobustnessSection.html(cascade, {}))
    assert "robust acc after it" in page and "ran as a cascade" in page


def test_an_attack_outside_the_threat_model_runs_beside_the_cascade():
    """Under an ε 1 threat model an attack judged at ε 0.5 breaks nothing the worst case counts: it
    attacks every correct sample (not only what the cascade left) and counts alone; it cannot be gated."""
    x, y = images([[0.9, 0.5, 0.1]] * 4)
    outside = BreaksMarked({0.1, 0.4})
    outside.eps = 0.5
    cascade = Cascade({"a": BreaksMarked({0.1, 0.2}), "out": outside, "b": BreaksMarked({0.3})})
    report = section_report(RobustnessSection(cascade, "linf", 1.0), FirstPixels(), x, y)
    assert outside.seen == [[0.1, 0.2, 0.3, 0.4]]
    rows = report["attacks"]
    assert (rows["out"]["robust"], rows["out"]["attacked"], rows["out"]["in_threat_model"]) == (2, 4, False)
    assert (rows["b"]["robust"], rows["b"]["attacked"]) == (1, 2), "b follows a, not the attack beside them"
    assert report["worst_case"]["count"] == 1 and report["worst_case"]["over"] == ["a", "b"]
    with pytest.raises(UserInputError, match="out is judged outside the threat model.*cannot be gated"):
        RobustnessSection(Cascade({"a": BreaksMarked(set()), "out": outside}, near={"out": 0.5}), "linf", 1.0)


def test_samples_a_gate_gave_up_on_are_counted_and_set_against_autoattack(monkeypatch):
    """Margins 0.5, 0.125, 0.875; a stage gated at 0.2 attacks only the second and breaks it; a last
    stage breaks the first: only the third was given up on (passed over by the gate and robust at
    the end). AutoAttack breaks the third: one given-up sample AutoAttack broke — the count a gate
    must keep at zero."""
    from lightning_pse.models.passes import PassCount
    from lightning_pse.sections import robustness

    x, y = images([[0.9, 0.5, 0.1], [0.9, 0.8, 0.1], [0.9, 0.2, 0.1]])
    monkeypatch.setattr(
        robustness,
        "autoattack_robust",
        lambda model, x, y, *args: (torch.tensor([True, False, False]), PassCount(3, 0)),
    )
    stages = {"a": BreaksMarked(set()), "b": BreaksMarked({0.2}), "c": BreaksMarked({0.1})}
    report = section_report(
        RobustnessSection(Cascade(stages, near={"b": 0.2}), "linf", 1.0, autoattack="standard"), FirstPixels(), x, y
    )
    assert report["attacks"]["b"]["broke"] == 1 and report["attacks"]["c"]["broke"] == 1 and report["given_up"] == 1
    assert report["autoattack"]["given_up_broken_by_autoattack"] == 1
    assert report["autoattack"]["broken_only_by_autoattack"] == 1


class BlackBoxMarked(BreaksMarked):
    uses_gradients = False


@pytest.mark.parametrize(
    "stages, flagged",
    [
        ({"white": BreaksMarked({0.1}), "black": BlackBoxMarked({0.2, 0.3})}, True),
        ({"white": BreaksMarked({0.1}), "black": BlackBoxMarked({0.3})}, False),
        # White-box stages after it (the preset's restart tiers) do not silence it.
        ({"white": BreaksMarked({0.1}), "black": BlackBoxMarked({0.2, 0.3}), "later": BreaksMarked(set())}, True),
        ({"black": BlackBoxMarked({0.2, 0.3}), "white": BreaksMarked({0.1})}, False),  # no white-box stage before it
    ],
)
def test_a_black_box_stage_breaking_what_the_white_box_ones_left_is_flagged(stages, flagged):
    """A black-box stage that breaks two samples every white-box stage before it left robust raises
    the gradient-masking flag, whatever stages follow; one sample does not (the independent order's
    one-sample tolerance), nor a black-box stage with no white-box one before it."""
    x, y = images([[0.9, 0.5, 0.1]] * 4)
    report = section_report(RobustnessSection(Cascade(stages), "linf", 1.0), FirstPixels(), x, y)
    assert any("black-box black attack broke" in flag for flag in report["sanity"]) is flagged


GATED = ["apgd_t_probe", "apgd_dlr_near", "apgd_ce_close", "apgd_dlr_close"]


@pytest.mark.parametrize(
    "norm, eps, stages",
    [
        ("linf", 0.1, ["apgd_ce", "apgd_t", "square", *GATED]),
        ("l2", 0.5, ["apgd_ce", "apgd_t", "cw_l2", "square", *GATED]),
        ("l1", 10.0, ["apgd_ce", "apgd_t", "ead_l1", "square", *GATED]),
    ],
)
def test_the_cascade_preset_keeps_the_attacks_of_the_threat_model(norm, eps, stages):
    """``presets.cascade`` (``--robustness cascade``): APGD-CE, APGD-T on one target, the minimal-norm
    attack judged in the threat model (C&W only under ℓ2, EAD only under ℓ1), Square-100, then gated
    stages, each with its own seed: APGD-T toward all 9 other classes for 10 steps within margin 0.5,
    APGD from output-diversified starts (none at ℓ1) with DLR for 1 restart within 0.4, then CE and
    DLR for 4 restarts each within 0.15; fewer than 4 classes: neither APGD-T nor the gated stages. The
    default (``attacks``, ``autoattack``) keeps every attack, each on every sample; given attacks
    are kept as given, a cascade too."""
    from lightning_pse.attacks import APGD, Square, presets

    cascade = presets.robustness_attacks("cascade", None, eps, 10, norm, 0)
    assert isinstance(cascade, Cascade) and list(cascade) == stages
    assert cascade.near == {"apgd_t_probe": 0.5, "apgd_dlr_near": 0.4, "apgd_ce_close": 0.15, "apgd_dlr_close": 0.15}
    assert cascade["apgd_t"].targeted and cascade["apgd_t"].n_target_classes == 1
    probe = cascade["apgd_t_probe"]
    assert probe.targeted and probe.n_target_classes == 9 and probe.steps == 10 and probe.loss == "dlr"
    assert isinstance(cascade["square"], Square) and cascade["square"].n_queries == 100
    tiers = [cascade[name] for name in ("apgd_dlr_near", "apgd_ce_close", "apgd_dlr_close")]
    for tier, loss, restarts in zip(tiers, ("dlr", "ce", "dlr"), (1, 4, 4)):
        assert isinstance(tier, APGD) and tier.loss == loss and not tier.targeted and tier.norm == norm
        assert tier.restarts == restarts and tier.odi_steps == (0 if norm == "l1" else 2)
    assert len({stage.seed for stage in (*tiers, probe, cascade["apgd_t"])}) == 5
    assert list(presets.cascade(eps, 3, norm)) == [s for s in stages if s not in ("apgd_t", *cascade.near)]
    for mode in ("attacks", "autoattack"):
        default = presets.robustness_attacks(mode, None, eps, 10, norm, 0)
        assert not isinstance(default, Cascade) and list(default) == list(presets.autoattack_like(eps, 10, norm))
    given = {"a": BreaksMarked(set())}
    assert isinstance(presets.robustness_attacks("cascade", given, eps, 10, norm, 0), Cascade)
    assert presets.robustness_attacks("autoattack", given, eps, 10, norm, 0) is given
    assert presets.robustness_attacks("autoattack", cascade, eps, 10, norm, 0) is cascade
