"""Findings: verdicts follow the intervals (each check fails when the rule is broken)."""

import math

import pytest
import torch

from lightning_pse.analysis.findings import findings
from lightning_pse.pse import Category
from lightning_pse.pse.ground_truth import specificity
from lightning_pse.sections.cam import cam_regions
from lightning_pse.sections.network import sensitive_units
from lightning_pse.sections.pse import MIN_TYPE_SHARE, ground_truth_specificity, perturbation_types, type_presence
from lightning_pse.stats import paired_difference, spearman_interval, verdict, wilson_interval


def test_verdict_rule():
    assert verdict(0.1, 0.3) == "holds" and verdict(-0.3, -0.1) == "does not hold"
    assert verdict(-0.1, 0.3) == "inconclusive" and verdict(math.nan, 1.0) == "inconclusive"
    assert verdict(-0.3, -0.1, claimed="negative") == "holds"


def test_paired_difference_and_spearman_interval():
    d = paired_difference([0.5, 0.6, 0.7], [0.4, 0.5, 0.5])
    assert abs(d["mean"] - (0.1 + 0.1 + 0.2) / 3) < 1e-12 and d["n"] == 3
    assert d["ci95"][0] < d["mean"] < d["ci95"][1]
    narrow, wide = spearman_interval(0.6, 200), spearman_interval(0.6, 10)
    assert wide[0] < narrow[0] < 0.6 < narrow[1] < wide[1] and narrow[0] > 0
    assert all(math.isnan(b) for b in spearman_interval(0.6, 3))


def pse_entry(types: list[int]) -> dict:
    return {"records": {"image_type": [float(t) for t in types]}}


def types(suppression: int, promotion: int, balanced: int, inactive: int = 0) -> dict:
    """A PSE attack entry whose fooled images have these type counts."""
    counts = {Category.SUPPRESSION: suppression, Category.PROMOTION: promotion, Category.BALANCED: balanced}
    counts[Category.INACTIVE] = inactive
    return pse_entry([code for code, count in counts.items() for _ in range(count)])


@pytest.mark.parametrize(
    "counts, verdict_, present, absent",
    [
        ((465, 1, 0), "does not hold", 1, 2),  # one promotion image in 466 is no type of its own
        ((200, 200, 66), "holds", 3, 0),
        ((420, 25, 21), "inconclusive", 1, 0),  # 5.4 % [3.7, 7.8] and 4.5 % [3.0, 6.8] straddle 5 %
        ((400, 25, 41), "holds", 2, 0),  # 8.8 % [6.5, 11.7] is present beside suppression
        ((466, 0, 0), "does not hold", 1, 2),
        ((440, 26, 0), "inconclusive", 1, 1),  # one absent type is not enough to fail
    ],
)
def test_types_finding_can_hold_fail_or_stay_open(counts, verdict_, present, absent):
    (out,) = perturbation_types({"attacks": {"pgd": types(*counts)}}).values()
    assert (out["verdict"], out["types_present"], out["types_absent"]) == (verdict_, present, absent)
    assert out["n"] == sum(counts) and out["min_share"] == MIN_TYPE_SHARE == 0.05
    assert [s["count"] for s in out["shares"].values()] == list(counts)


def test_type_presence_at_the_minimum_share_itself():
    """Present at a lower bound equal to the minimum (≥), not absent at an upper bound equal to it (<)."""
    low, high = wilson_interval(30, 200)
    assert type_presence(30, 200, min_share=low) == "present"
    assert type_presence(30, 200, min_share=low + 1e-12) == "undetermined"
    assert type_presence(30, 200, min_share=high) == "undetermined"
    assert type_presence(30, 200, min_share=high + 1e-12) == "absent"


def test_types_finding_counts_inactive_images_in_n_and_needs_twenty():
    (out,) = perturbation_types({"attacks": {"pgd": types(10, 10, 0, inactive=1)}}).values()
    assert out["n"] == 21 and out["verdict"] == "holds", "10 of 21 each: both lower bounds above 5 %"
    (few,) = perturbation_types({"attacks": {"pgd": types(10, 9, 0)}}).values()
    assert few["verdict"] == "insufficient data" and "19 fooled images" in few["reason"]


def gain(mean, low, high, n=40):
    return {"mean": mean, "ci95": [low, high], "n": n}


def cam_entry(suppression: dict, promotion: dict, over_random: dict | None = None) -> dict:
    """A CAM attack entry whose gains over the third class's region are ``suppression`` and
    ``promotion``, and over the random region ``over_random`` (both parts)."""
    random = over_random or gain(0.5, 0.4, 0.6)
    return {
        "gain_suppression_true_over_other": suppression,
        "gain_promotion_target_over_other": promotion,
        "gain_suppression_true": random,
        "gain_promotion_target": random,
    }


def test_cam_finding_follows_the_gain_over_the_third_class():
    """The verdict follows the gain over a third class's region (on the object too), whatever the gain
    over a random region says: +0.5 over random but −0.2 over the third class does not hold."""
    cam = {"attacks": {"pgd": cam_entry(gain(0.2, 0.1, 0.3), gain(-0.2, -0.3, -0.1))}, "method": "cam"}
    out = cam_regions(cam)["pgd"]
    assert out["suppression_on_true_region"]["verdict"] == "holds"
    assert out["promotion_on_target_region"]["verdict"] == "does not hold"
    assert out["promotion_on_target_region"]["effect"] == -0.2
    assert out["promotion_on_target_region"]["over_random"]["mean"] == 0.5
    on_the_object = cam_regions({"attacks": {"pgd": cam_entry(gain(0.0, -0.1, 0.1), gain(0.0, -0.1, 0.1))}})["pgd"]
    assert {f["verdict"] for f in on_the_object.values()} == {"inconclusive"}, "above random, level with the object"


def dissection_block(units: int = 100, detectors: int = 20, k: int = 10, top: float = 0.9, **changes) -> dict:
    """A dissection report block: ``units`` units of which ``detectors`` detect (random k at the layer's
    share), the top-k share ``top``, ρ = 0.5 on 64 probe images, and ``changes``."""
    block = {
        "num_units": units,
        "spearman_sensitivity_iou": 0.5,
        "interpretable_units": detectors,
        "randomk_detector_share": detectors / units,
        "k": k,
        "topk_detector_share": top,
        "num_probe_images": 64,
    }
    return {**block, **changes}


def test_unit_finding_against_the_layer_share():
    dissection = dissection_block()
    out = sensitive_units(dissection)
    assert out["sensitivity_iou_correlation"]["verdict"] == "holds"
    top = out["top_sensitive_are_detectors"]
    assert abs(top["effect"] - 0.7) < 1e-9 and top["verdict"] == "holds"
    out = sensitive_units({**dissection, "topk_detector_share": 0.2, "spearman_sensitivity_iou": -0.5})
    assert out["top_sensitive_are_detectors"]["verdict"] == "inconclusive"
    assert out["sensitivity_iou_correlation"]["verdict"] == "does not hold"


def test_specificity_finding_compares_the_ratio_with_one():
    truth = {
        "specificity": {
            "suppression_object_over_distractor": {"value": 3.0, "ci95": [2.0, 4.5], "n": 200},
            "promotion_distractor_over_object": {"value": 0.9, "ci95": [0.7, 1.2], "n": 200},
        }
    }
    out = ground_truth_specificity(truth)
    assert out["suppression_object_over_distractor"]["verdict"] == "holds"
    assert out["promotion_distractor_over_object"]["verdict"] == "inconclusive"
    assert out["promotion_distractor_over_object"]["ci95"] == [0.7, 1.2]


def test_specificity_interval_from_per_image_counts():
    """Suppression all on the object in every image: the ratio's bootstrap interval lies above 1;
    swap object and distractor and it lies below."""
    n = 40
    ones = torch.ones(n, dtype=torch.float64)
    truth = {
        "index": torch.arange(n, dtype=torch.float64),
        "object": 10 * ones,
        "distractor": 10 * ones,
        "suppression_on_object": 4 + torch.arange(n) % 3 * ones,
        "suppression_on_distractor": ones,
    }
    above = specificity(truth, "suppression", "object", "distractor")
    assert above["value"] > 1 and above["ci95"][0] > 1 and above["n"] == n
    below = specificity(truth, "suppression", "distractor", "object")
    assert below["ci95"][1] < 1 and below["value"] == pytest.approx(1 / above["value"])


def test_no_type_is_present_without_a_count():
    """n images, all suppression-dominated: one type present, never "holds" (an interval ending at
    1e-17 instead of 0 once counted the two absent types as present); the other two are absent once
    0 of n has an upper bound below 5 % (n ≥ 73), so the finding then does not hold."""
    for n, expected in ((20, "inconclusive"), (50, "inconclusive"), (100, "does not hold"), (300, "does not hold")):
        out = perturbation_types({"attacks": {"pgd": pse_entry([Category.SUPPRESSION] * n)}})["pgd"]
        assert out["types_present"] == 1 and out["verdict"] == expected, n
        assert out["shares"]["promotion"]["ci95"][0] == 0.0 and out["shares"]["suppression"]["ci95"][1] == 1.0


def test_findings_below_their_minimum_sample_are_insufficient_never_holds():
    mixed = [Category.SUPPRESSION] * 10 + [Category.PROMOTION] * 9
    out = perturbation_types({"attacks": {"pgd": pse_entry(mixed)}})["pgd"]
    assert out["verdict"] == "insufficient data" and "19 fooled images" in out["reason"] and out["min_n"] == 20
    assert perturbation_types({"attacks": {"pgd": pse_entry(mixed + [Category.BALANCED])}})["pgd"]["verdict"] == "holds"
    cam = {
        "attacks": {
            "pgd": cam_entry(gain(0.2, 0.1, 0.3, n=19), gain(None, math.nan, math.nan, n=0)),
        }
    }
    out = cam_regions(cam)["pgd"]
    assert out["suppression_on_true_region"]["verdict"] == "insufficient data"
    assert out["promotion_on_target_region"]["verdict"] == "insufficient data"
    dissection = dissection_block(128, 97, 13, 1.0, spearman_sensitivity_iou=0.8, num_probe_images=4)
    for finding in sensitive_units(dissection).values():
        assert finding["verdict"] == "insufficient data" and "4 probe images" in finding["reason"]
    assert all(f["verdict"] == "holds" for f in sensitive_units({**dissection, "num_probe_images": 64}).values())


def test_top_units_without_any_detector_in_the_layer_say_so():
    """No detector in a 64-unit layer (k = 6): effect 0 and an interval from exactly 0, and the
    verdict names the reason instead of "holds"."""
    dissection = dissection_block(64, 0, 6, 0.0, spearman_sensitivity_iou=0.1)
    top = sensitive_units(dissection)["top_sensitive_are_detectors"]
    assert top["effect"] == 0.0 and top["ci95"][0] == 0.0
    assert top["verdict"] == "insufficient data" and "0 detector units" in top["reason"]


def test_the_correlation_alone_never_carries_the_unit_claim_without_detectors():
    """128 units, no detector, ρ = 0.34 (its interval clear of zero at n = 128): insufficient data,
    naming the missing detectors; the same layer with one detector holds."""
    dissection = dissection_block(128, 0, 12, 0.0, spearman_sensitivity_iou=0.34)
    correlation = sensitive_units(dissection)["sensitivity_iou_correlation"]
    assert correlation["effect"] == 0.34 and correlation["ci95"][0] > 0
    assert correlation["verdict"] == "insufficient data" and "0 detector units in the layer" in correlation["reason"]
    with_one = sensitive_units({**dissection, "interpretable_units": 1})["sensitivity_iou_correlation"]
    assert with_one["verdict"] == "holds"


def test_the_top_k_finding_uses_the_tables_random_k_share():
    """The effect is the top-k share minus the dissection table's random-k share, whatever that is."""
    dissection = dissection_block(top=0.6)
    assert sensitive_units(dissection)["top_sensitive_are_detectors"]["effect"] == pytest.approx(0.4)
    moved = sensitive_units({**dissection, "randomk_detector_share": 0.5})["top_sensitive_are_detectors"]
    assert moved["effect"] == pytest.approx(0.1)


def test_a_run_that_fooled_nothing_says_so_in_one_sentence():
    idle = {"num_attacked": 30, "num_analyzed": 0, "records": {"image_type": []}}
    busy = {"num_attacked": 30, "num_analyzed": 25, "records": {"image_type": [1.0] * 25}}
    report = {"pse": {"attacks": {"pgd": idle, "cw": idle}}}
    (note,) = findings(report)["notes"]
    assert "No attack fooled any of the 30" in note and "nothing to analyse" in note
    (note,) = findings({"pse": {"attacks": {"pgd": idle, "cw": busy}}})["notes"]
    assert note.startswith("pgd fooled none of the 30")
    nothing_correct = {"num_attacked": 0, "num_analyzed": 0, "records": {"image_type": []}}
    (note,) = findings({"pse": {"attacks": {"pgd": nothing_correct}}})["notes"]
    assert note.startswith("The model classified none of the probe samples correctly")


def test_attacks_outside_the_threat_model_keep_their_rows_but_carry_no_verdict():
    """C&W fooled 100 images in every type (unbounded, median ℓ2 0.83); a PGD at another radius too:
    both are shown and named outside the ℓ∞ 0.1 threat model, only the PGD at 0.1 is judged."""
    mixed = [Category.SUPPRESSION] * 40 + [Category.PROMOTION] * 40 + [Category.BALANCED] * 20
    counts = {"num_attacked": 120, "num_analyzed": 100}
    unbounded = {**pse_entry(mixed), **counts, "bounded": False, "norm": "l2", "eps": None, "median_distance": 0.83}
    elsewhere = {**pse_entry(mixed), **counts, "bounded": True, "norm": "linf", "eps": 0.2, "median_distance": 0.2}
    inside = {**pse_entry(mixed), **counts, "bounded": True, "norm": "linf", "eps": 0.1, "median_distance": 0.1}
    pse = {"attacks": {"cw": unbounded, "pgd_far": elsewhere, "pgd": inside}}
    out = perturbation_types(pse, threat=("linf", 0.1))
    assert out["cw"]["verdict"] == "outside the threat model" and out["cw"]["types_present"] == 3
    assert "cw succeeds at any distance, median l2 distance 0.83" in out["cw"]["reason"]
    assert out["pgd_far"]["verdict"] == "outside the threat model" and "linf ε 0.2" in out["pgd_far"]["reason"]
    assert out["pgd"]["verdict"] == "holds"
    cam = {"attacks": {"cw": {**unbounded, **cam_entry(gain(0.2, 0.1, 0.3), gain(0.2, 0.1, 0.3))}}}
    judged = cam_regions(cam, ("linf", 0.1))["cw"]
    assert {f["verdict"] for f in judged.values()} == {"outside the threat model"}
    assert judged["suppression_on_true_region"]["effect"] == 0.2, "the gain stays, as what it is"
    report = {"norm": "linf", "eps": 0.1, "pse": pse}
    assert findings(report)["perturbation_types"]["cw"]["verdict"] == "outside the threat model"


def test_a_finding_at_exactly_its_minimum_sample_is_judged():
    """20 images with the part (the minimum) are enough; 19 are not."""
    at = cam_regions({"attacks": {"pgd": cam_entry(gain(0.2, 0.1, 0.3, n=20), gain(0.2, 0.1, 0.3, n=19))}})["pgd"]
    assert at["suppression_on_true_region"]["verdict"] == "holds"
    assert at["promotion_on_target_region"]["verdict"] == "insufficient data"


def test_with_label_stability_only_stable_detectors_count():
    """The stability block's shares replace the layer's: 20 detectors but none stable is insufficient
    data; one stable detector and its top-k share judge the claim."""
    stability = {"stable_detectors": 0, "topk_detector_share": 0.0, "randomk_detector_share": 0.0}
    dissection = dissection_block(stability=stability)
    for finding in sensitive_units(dissection).values():
        assert finding["verdict"] == "insufficient data" and "0 detector units with a stable label" in finding["reason"]
    stable = {"stable_detectors": 3, "topk_detector_share": 0.3, "randomk_detector_share": 0.03}
    top = sensitive_units(dissection_block(stability=stable))["top_sensitive_are_detectors"]
    assert top["effect"] == pytest.approx(0.27) and top["verdict"] == "holds", "3 of 10 against 3 %"
