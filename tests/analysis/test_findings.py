"""Findings: verdicts follow the intervals (each check fails when the rule is broken)."""

import math

import pytest
import torch

from lightning_pse.analysis.findings import cam_regions, ground_truth_specificity, perturbation_types, sensitive_units
from lightning_pse.pse import Category
from lightning_pse.sections.pse import specificity
from lightning_pse.stats import paired_difference, spearman_interval, verdict


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


def test_types_finding_needs_two_types_clear_of_zero():
    mixed = [Category.SUPPRESSION] * 30 + [Category.PROMOTION] * 20 + [Category.BALANCED] * 2
    only_suppression = [Category.SUPPRESSION] * 50 + [Category.INACTIVE]
    out = perturbation_types({"pgd": pse_entry(mixed), "cw": pse_entry(only_suppression), "ground_truth": {}})
    assert out["pgd"]["verdict"] == "holds" and out["pgd"]["types_present"] >= 2
    assert out["cw"]["verdict"] == "inconclusive" and out["cw"]["n"] == 51
    one_promotion = perturbation_types({"cw": pse_entry(only_suppression[:-1] + [Category.PROMOTION])})
    assert one_promotion["cw"]["verdict"] == "holds", "one image of a type puts its Wilson interval above 0"
    assert set(out) == {"pgd", "cw"}


def gain(mean, low, high, n=40):
    return {"mean": mean, "ci95": [low, high], "n": n}


def test_cam_finding_follows_the_gain_interval():
    cam = {
        "pgd": {"gain_suppression_true": gain(0.2, 0.1, 0.3), "gain_promotion_target": gain(-0.2, -0.3, -0.1)},
        "method": "cam",
    }
    out = cam_regions(cam)["pgd"]
    assert out["suppression_on_true_region"]["verdict"] == "holds"
    assert out["promotion_on_target_region"]["verdict"] == "does not hold"


def test_unit_finding_against_the_layer_share():
    dissection = {
        "num_units": 100,
        "spearman_sensitivity_iou": 0.5,
        "interpretable_units": 20,
        "k": 10,
        "topk_detector_share": 0.9,
    }
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
