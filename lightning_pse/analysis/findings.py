"""The paper's three findings, and the ground truth's specificity, as verdicts computed from a report
(``docs/method.md`` §7): each with its effect, 95 % interval, sample size and verdict
(``stats.verdict``: holds / does not hold / inconclusive), never written by hand."""

from __future__ import annotations

import math

from ..pse import Category
from ..sections.intervals import wilson_interval
from ..stats import spearman_interval, verdict

TYPES = {"suppression": Category.SUPPRESSION, "promotion": Category.PROMOTION, "balanced": Category.BALANCED}


def _finding(claim: str, effect: float | None, ci95: list[float], n: int, claimed: str = "positive") -> dict:
    low, high = ci95
    return {
        "claim": claim,
        "effect": effect,
        "ci95": ci95,
        "n": n,
        "verdict": verdict(low, high, claimed) if effect is not None else "inconclusive",
    }


def perturbation_types(pse: dict) -> dict:
    """(i) Per attack: the share of suppression-, promotion-dominated and balanced images with Wilson
    intervals; holds when at least two types have a share whose interval excludes 0 (an interval
    never shows a share to be exactly 0, so the finding cannot be refuted, only left inconclusive)."""
    out = {}
    for name, entry in pse.items():
        if name == "ground_truth":
            continue
        types = [int(t) for t in entry["records"]["image_type"]]
        n = len(types)
        shares = {}
        for label, code in TYPES.items():
            count = sum(t == code for t in types)
            shares[label] = {"value": count / n if n else None, "count": count, "ci95": list(wilson_interval(count, n))}
        present = sum(n > 0 and s["ci95"][0] > 0 for s in shares.values())
        out[name] = {
            "claim": "perturbations split into suppression-, promotion-dominated and balanced types",
            "shares": shares,
            "n": n,
            "types_present": present,
            "verdict": "holds" if present >= 2 else "inconclusive",
        }
    return out


def cam_regions(cam: dict) -> dict:
    """(ii) Per attack: suppression's agreement with the true class's CAM region and promotion's with
    the target's, each minus its random-region baseline (paired bootstrap interval over images)."""
    out = {}
    for name, entry in cam.items():
        if not isinstance(entry, dict) or "gain_suppression_true" not in entry:
            continue
        out[name] = {
            f"{kind}_on_{region}_region": _finding(
                f"the {kind}-dominated part of δ sits on the {region} class's CAM region more than on a random one",
                entry[f"gain_{kind}_{where}"]["mean"],
                entry[f"gain_{kind}_{where}"]["ci95"],
                entry[f"gain_{kind}_{where}"]["n"],
            )
            for kind, region, where in (("suppression", "true", "true"), ("promotion", "target", "target"))
        }
    return out


def sensitive_units(dissection: dict) -> dict:
    """(iii) The most attack-sensitive units are interpretable: Spearman ρ of sensitivity with best
    IoU (Fisher interval over units), and the detector share of the top-k sensitive units minus the
    layer's overall share (the expectation for k random units; Wilson interval of the top-k count)."""
    units = dissection["num_units"]
    rho = dissection["spearman_sensitivity_iou"]
    overall = dissection["interpretable_units"] / units
    k = dissection["k"]
    detectors = round(dissection["topk_detector_share"] * k)
    low, high = wilson_interval(detectors, k)
    return {
        "sensitivity_iou_correlation": _finding(
            "unit sensitivity correlates positively with the unit's best IoU",
            None if math.isnan(rho) else rho,
            spearman_interval(rho, units),
            units,
        ),
        "top_sensitive_are_detectors": _finding(
            f"the top-{k} attack-sensitive units are detectors more often than units at random",
            detectors / k - overall,
            [low - overall, high - overall],
            k,
        ),
    }


def ground_truth_specificity(truth: dict) -> dict:
    """Suppression prefers the object over the distractor and promotion the distractor over the
    object: each concentration ratio's log against 0 (the bootstrap interval of the ratio against 1)."""
    out = {}
    for key, claim in (
        ("suppression_object_over_distractor", "suppression sits on the object more than on the distractor"),
        ("promotion_distractor_over_object", "promotion sits on the distractor more than on the object"),
    ):
        entry = truth["specificity"][key]
        log = lambda v: math.log(v) if v is not None and v > 0 else float("nan")  # noqa: E731
        finding = _finding(claim, entry["value"], [log(b) for b in entry["ci95"]], entry["n"])
        finding["ci95"] = entry["ci95"]  # reported as the ratio (1 = no preference)
        out[key] = finding
    return out


def findings(report: dict) -> dict:
    """The ``findings`` block of a report: whichever of the findings its sections allow."""
    out = {}
    if "pse" in report:
        out["perturbation_types"] = perturbation_types(report["pse"])
        if "ground_truth" in report["pse"]:
            out["ground_truth_specificity"] = ground_truth_specificity(report["pse"]["ground_truth"])
    if "cam" in report:
        out["cam_regions"] = cam_regions(report["cam"])
    if "dissection" in report:
        out["sensitive_units"] = sensitive_units(report["dissection"])
    return out
