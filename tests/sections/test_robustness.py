"""Robust evaluation that wastes nothing and can be quoted: per-step early stopping (never a higher
robust accuracy), Wilson intervals, and AutoAttack's standard version beside our attacks."""

import math

import jsonschema
import pytest
import torch

from lightning_pse.analysis import report_schema
from lightning_pse.attacks import APGD, CW, PGD, Attack, presets, robust_correct
from lightning_pse.errors import UserInputError
from lightning_pse.models.passes import PassCount
from lightning_pse.output.text import format_eps
from lightning_pse.sections import AttackRuns, ProbeBatch, RobustnessSection, robustness
from lightning_pse.sections.intervals import rate, wilson_interval

from helpers import TinyNet, data


@pytest.fixture(scope="module")
def probe(synthetic_data):
    items = [synthetic_data.probe_set(48, split="test")[i] for i in range(48)]
    return torch.stack([item["image"] for item in items]), torch.tensor([int(item["label"]) for item in items])


def count_forward_rows(model):
    """A forward hook counting the images the model is run on."""
    seen = []
    handle = model.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    return seen, handle


def test_wilson_interval_matches_the_closed_form():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)  # the textbook example, z = 1.96
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    low, high = wilson_interval(500, 1000)
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.25 / 1000), rel=0.01)
    assert "too wide to quote" in rate(5, 10, "x")["warning"] and "warning" not in rate(5000, 10000, "x")


def test_format_eps():
    assert format_eps(8 / 255) == "8/255" and format_eps(0.5) == "0.5" and format_eps(0.3) == "0.3"


@pytest.mark.parametrize("eps", [2 / 255, 4 / 255])
def test_pgd_early_stop_never_raises_robust_accuracy_and_saves_passes(trained_model, probe, eps):
    x, y = probe
    robust = {}
    rows = {}
    for stop in (False, True):
        seen, handle = count_forward_rows(trained_model)
        try:
            robust[stop] = robust_correct(PGD(eps=eps, steps=10, early_stop=stop, seed=0), trained_model, x, y)
        finally:
            handle.remove()
        rows[stop] = sum(seen)
    assert (robust[True] <= robust[False]).all(), "a sample robust with early stopping is robust without"
    assert robust[True].sum() <= robust[False].sum()
    assert rows[True] < rows[False], "fooled samples leave the forward passes"


def test_apgd_early_stop_returns_the_same_points_with_fewer_passes(trained_model, probe):
    x, y = probe
    outputs, rows = {}, {}
    for stop in (False, True):
        seen, handle = count_forward_rows(trained_model)
        try:
            outputs[stop] = APGD(eps=2 / 255, steps=20, early_stop=stop, seed=0)(trained_model, x, y)
        finally:
            handle.remove()
        rows[stop] = sum(seen)
    assert torch.equal(outputs[True], outputs[False])
    assert rows[True] < rows[False]


def test_cw_stop_radius_keeps_robust_accuracy_at_that_radius(trained_model, probe):
    x, y = probe
    results, rows = {}, {}
    for radius in (None, 0.5):
        seen, handle = count_forward_rows(trained_model)
        try:
            results[radius] = CW(steps=30, binary_search_steps=3, stop_radius=radius).run(trained_model, x, y)
        finally:
            handle.remove()
        rows[radius] = sum(seen)
    broken = {r: int((res.success & (res.l2 <= 0.5)).sum()) for r, res in results.items()}
    assert broken[None] > 0
    # The unstopped search's loss-stall test sums over the whole batch, the stopped one's over the rest,
    # so their trajectories may differ slightly: within one sample of 48.
    assert broken[0.5] >= broken[None] - 1, broken
    assert rows[0.5] < rows[None], "samples broken within the radius leave the search"


def test_attack_settings_are_range_checked():
    for make, word in (
        (lambda: PGD(eps=-1), "eps"),
        (lambda: PGD(steps=0), "steps"),
        (lambda: APGD(rho=2), "rho"),
        (lambda: CW(steps=0), "steps"),
        (lambda: CW(stop_radius=-1), "stop_radius"),
    ):
        with pytest.raises(UserInputError, match=word):
            make()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["attacks", "cascade"])
def test_our_worst_case_is_no_weaker_than_autoattack_on_the_same_samples(trained_model, probe, mode):
    """AutoAttack's standard version and our attacks — the default (every attack on every sample,
    Square at 300 queries) or the cascade preset — on the same 32 images at a radius where the
    standard test model keeps a few samples (AutoAttack's cost grows with the survivors): every
    sample AutoAttack breaks, we break."""
    x, y = probe[0][:32], probe[1][:32]
    eps = 6 / 255
    attacks = presets.autoattack_like(eps, 10, square_queries=300) if mode == "attacks" else presets.cascade(eps, 10)
    section = RobustnessSection(attacks, "linf", eps, autoattack="standard")
    section.reset(x.device)
    before = {k: v.clone() for k, v in trained_model.state_dict().items()}
    batch = ProbeBatch.of(trained_model, x, y)
    section.update(trained_model, batch, AttackRuns(trained_model, batch))
    assert all(torch.equal(before[k], v) for k, v in trained_model.state_dict().items())
    assert all(p.grad is None for p in trained_model.parameters()), "AutoAttack's FAB left no parameter gradients"
    report = section.compute()
    assert 0 < report["autoattack"]["count"] < report["clean"]["count"], "a radius where the comparison means something"
    assert report["autoattack"]["broken_only_by_autoattack"] == 0
    assert not any("AutoAttack broke" in flag for flag in report["sanity"])
    assert report["worst_case"]["count"] <= report["autoattack"]["count"]
    block = report["robustbench"]
    assert block["n_examples"] == 32 and block["threat_model"] == "Linf" and block["eps_text"] == "6/255"
    assert block["autoattack_acc"] == pytest.approx(report["autoattack"]["count"] / 32)
    schema = report_schema()
    jsonschema.validate(block, {"$defs": schema["$defs"], **schema["properties"]["robustbench"]})


def section_report(section: RobustnessSection, model, x, y) -> dict:
    section.reset(x.device)
    batch = ProbeBatch.of(model, x, y)
    section.update(model, batch, AttackRuns(model, batch))
    return section.compute()


def test_samples_only_autoattack_broke_are_flagged():
    x, y = data(4)
    model = TinyNet()
    too_weak = {"pgd": PGD(eps=0.3, steps=1, step_size=1e-6, random_start=False, seed=0)}
    report = section_report(RobustnessSection(too_weak, "linf", 0.3, autoattack="standard"), model, x, y)
    assert report["autoattack"]["broken_only_by_autoattack"] == 4
    assert any("AutoAttack broke 4 of 4 samples that our attacks did not" in flag for flag in report["sanity"])
    flags = section_report(RobustnessSection(too_weak, "linf", 0.3), model, x, y)["sanity"]
    assert not any("AutoAttack" in flag for flag in flags), "no AutoAttack run: nothing to flag"


class PixelZeroModel(torch.nn.Module):
    """Two classes: class 1 when the first pixel exceeds 0.5, else class 0 (logits ``±(2·x₀ − 1)``)."""

    def forward(self, x):
        s = 2 * x[:, 0, 0, 0] - 1
        return torch.stack([-s, s], dim=1)


class ScriptedAttack(Attack):
    """Breaks exactly the samples at ``broken`` (batch positions): their first pixel moves by +0.2."""

    def __init__(self, broken: list[int]) -> None:
        super().__init__(seed=0)
        self.eps, self.broken = 0.3, broken

    def perturb(self, model, x, y, target, mask):
        x_adv = x.clone()
        x_adv[self.broken, 0, 0, 0] += 0.2
        return x_adv


def test_the_headline_worst_case_counts_the_breaks_of_our_attacks_and_autoattack(monkeypatch):
    """10 samples, all correct; our attack breaks samples 0 and 1, AutoAttack 1 and 2: each alone says
    8 of 10, the headline worst case 7 of 10; the secondary rows keep their own numbers."""
    x, y = torch.full((10, 1, 4, 4), 0.4), torch.zeros(10, dtype=torch.long)
    broken_by_autoattack = torch.zeros(10, dtype=torch.bool)
    broken_by_autoattack[[1, 2]] = True
    monkeypatch.setattr(
        robustness, "autoattack_robust", lambda model, x, y, *args: (~broken_by_autoattack, PassCount(300, 200))
    )
    section = RobustnessSection({"scripted": ScriptedAttack([0, 1])}, "linf", 0.3, autoattack="standard")
    report = section_report(section, PixelZeroModel(), x, y)
    assert report["attacks"]["scripted"]["robust"] == 8 and report["autoattack"]["count"] == 8
    assert report["worst_case"]["count"] == 7 and report["worst_case_robust_accuracy"] == pytest.approx(0.7)
    assert report["worst_case"]["over"] == ["scripted", "autoattack"]
    assert report["our_worst_case"]["count"] == 8 and report["our_worst_case"]["over"] == ["scripted"]
    assert report["autoattack"]["broken_only_by_autoattack"] == 1
    assert report["autoattack"]["broken_only_by_our_attacks"] == 1
    # The cost: the scripted attack calls the model only for its final evaluation (10 forward
    # passes); AutoAttack's 300 + 200 come from its (scripted) count: ours 10 / 500 = 0.02× its.
    assert report["attacks"]["scripted"]["passes"] == {"forward": 10, "backward": 0}
    seconds = report["passes"].pop("seconds")
    assert report["passes"] == {
        "images": 10,
        "ours": {"forward": 10, "backward": 0},
        "autoattack": {"forward": 300, "backward": 200},
    }
    assert seconds["ours"] == pytest.approx(report["attacks"]["scripted"]["seconds"]) and seconds["autoattack"] > 0
    report["passes"]["seconds"] = {"ours": 0.5, "autoattack": 2.0}
    lines = RobustnessSection.summary(report)
    assert (
        "cost: our attacks 10 forward and 0 backward passes (1 and 0 per image), 0.5 s; AutoAttack 300 forward "
        "and 200 backward passes (30 and 20 per image), 2.0 s; ours 0.02× AutoAttack's passes and 0.25× its time"
    ) in lines
    assert any(line.startswith("worst case over") and "and AutoAttack" in line and "7/10" in line for line in lines)
    assert any("our attacks alone" in line and "8/10" in line for line in lines)
    page = "".join(RobustnessSection.html(report, {}))
    assert "Our attacks alone: 0.800" in page
    schema = report_schema()
    for key in ("worst_case", "our_worst_case"):
        jsonschema.validate(report[key], {"$defs": schema["$defs"], **schema["properties"][key]})
    without = section_report(
        RobustnessSection({"scripted": ScriptedAttack([0, 1])}, "linf", 0.3), PixelZeroModel(), x, y
    )
    assert without["worst_case"]["count"] == 8 and "our_worst_case" not in without, (
        "no AutoAttack: ours is the headline"
    )


def test_a_weak_cascade_beside_autoattack_headlines_at_most_both():
    """One FGSM step a quarter of ε long beside AutoAttack's standard version, which breaks samples the
    step leaves: the headline is no higher than either side's own robust accuracy."""
    x, y = data(8)
    model = TinyNet()
    fgsm = {"fgsm": PGD(eps=0.2, steps=1, step_size=0.05, random_start=False, seed=0)}
    report = section_report(RobustnessSection(fgsm, "linf", 0.2, autoattack="standard"), model, x, y)
    assert report["autoattack"]["broken_only_by_autoattack"] > 0, "a setting where AutoAttack finds more"
    assert report["worst_case"]["count"] <= min(report["our_worst_case"]["count"], report["autoattack"]["count"])


class UnboundedScripted(ScriptedAttack):
    """Like ``ScriptedAttack``, but unbounded (as C&W) in ℓ2, moving the first pixel by ``step``."""

    bounded, norm = False, "l2"

    def __init__(self, broken: list[int], step: float) -> None:
        super().__init__(broken)
        self.step = step

    def perturb(self, model, x, y, target, mask):
        x_adv = x.clone()
        x_adv[self.broken, 0, 0, 0] += self.step
        return x_adv


def test_an_unbounded_break_at_exactly_the_radius_counts():
    """Under an ℓ∞ threat model an unbounded ℓ2 attack's break counts within ℓ2 0.5: a break at exactly
    0.5 (one pixel moved by 0.5) counts, one at 0.5 + 2⁻⁸ does not."""
    x, y = torch.full((2, 1, 4, 4), 0.25), torch.zeros(2, dtype=torch.long)
    at = section_report(RobustnessSection({"u": UnboundedScripted([0, 1], 0.5)}, "linf", 0.3), PixelZeroModel(), x, y)
    assert presets.unbounded_radius("l2", "linf", 0.3) == 0.5
    assert at["attacks"]["u"]["robust"] == 0 and at["attacks"]["u"]["in_threat_model"] is False
    beyond = UnboundedScripted([0, 1], 0.5 + 2**-8)
    assert (
        section_report(RobustnessSection({"u": beyond}, "linf", 0.3), PixelZeroModel(), x, y)["attacks"]["u"]["robust"]
        == 2
    )


def test_an_attacks_passes_are_counted_once_in_all_when_some_samples_are_not_attacked():
    """6 of 10 samples correct (the 4 labelled 1 are misclassified and not attacked). PGD-3 without
    early stop or random start on the 6: 3 × 6 gradients and 6 final evaluations, so 24 forward and
    18 backward passes, spread over the 6 attacked samples only (spread over all 10 they would sum
    to less)."""
    x = torch.full((10, 1, 4, 4), 0.4)
    y = torch.tensor([0] * 6 + [1] * 4)
    pgd = PGD(eps=0.05, steps=3, random_start=False, early_stop=False, seed=0)
    report = section_report(RobustnessSection({"pgd": pgd}, "linf", 0.05), PixelZeroModel(), x, y)
    assert report["clean"]["count"] == 6
    assert report["attacks"]["pgd"]["passes"] == {"forward": 24, "backward": 18}
    assert report["passes"]["ours"] == {"forward": 24, "backward": 18} and report["passes"]["images"] == 10
