"""The paper's three findings, and the ground truth's specificity, as verdicts computed from a report
(``docs/method.md`` §7): each with its effect, 95 % interval, sample size, the minimum sample size it
needs and its verdict (``stats.verdict``: holds / does not hold / inconclusive; below the minimum,
``insufficient data`` with the reason), never written by hand.

Every effect is computed from numbers the report's section tables show: the image-type counts, the
CAM gains over the third class's region, the dissection's Spearman ρ and top-k detector share against the
``randomk`` detector share (the expected share of k random units: the layer's detector share).
"""

from __future__ import annotations

import math

from ..output.text import format_eps
from ..pse import Category
from ..stats import INSUFFICIENT, OUTSIDE, spearman_interval, verdict, wilson_interval

TYPES = {"suppression": Category.SUPPRESSION, "promotion": Category.PROMOTION, "balanced": Category.BALANCED}

# Minimum sample sizes (docs/method.md §7 gives the reasons).
MIN_FOOLED_IMAGES = 20  # image-type shares, CAM gains, ground-truth specificity
MIN_UNITS = 10  # a rank correlation over units
MIN_PROBE_IMAGES = 32  # the probe images each unit's attack sensitivity is averaged over
MIN_TOP_K = 5  # units in the top-k set
# Our choice: a perturbation type counts as present when at least 1 image in 20 is of that type
# (its share's Wilson lower bound ≥ 5 %), absent when its upper bound is below that.
MIN_TYPE_SHARE = 0.05


def requirement(have: int, need: int, what: str) -> tuple[int, int, str]:
    """One sample-size requirement of a finding: ``have`` of ``what``, at least ``need``."""
    return have, need, what


def _finding(
    claim: str,
    effect: float | None,
    ci95: list[float],
    n: int,
    requirements: list[tuple[int, int, str]],
    claimed: str = "positive",
) -> dict:
    """A finding's entry: ``claim, effect, ci95, n, min_n, verdict`` and, when a requirement is unmet
    (or the effect is undefined), ``reason`` with the verdict ``insufficient data``."""
    entry = {"claim": claim, "effect": effect, "ci95": ci95, "n": n, "min_n": requirements[0][1]}
    unmet = [f"{have} {what} (needs ≥ {need})" for have, need, what in requirements if have < need]
    if unmet:
        entry.update(verdict=INSUFFICIENT, reason="rests on " + " and ".join(unmet))
    elif effect is None:
        entry.update(verdict=INSUFFICIENT, reason="the effect is undefined (a ranking is constant)")
    else:
        entry["verdict"] = verdict(ci95[0], ci95[1], claimed)
    return entry


def within_threat_model(entry: dict, threat: tuple[str, float] | None) -> bool:
    """Whether an attack's report entry (``bounded``, ``norm``, ``eps``) lies inside the threat model
    ``(norm, ε)``: bounded, in that norm, at that radius (any bounded attack when ``threat`` is None)."""
    if not entry.get("bounded", True):
        return False
    if threat is None or entry.get("eps") is None:
        return True
    return entry.get("norm") == threat[0] and abs(entry["eps"] - threat[1]) < 1e-9


def outside(entry: dict, name: str, threat: tuple[str, float] | None) -> str:
    """The reason an attack's rows carry no verdict: where it acts, against the threat model."""
    where = (
        "succeeds at any distance" if not entry.get("bounded", True) else f"acts at {entry['norm']} ε {entry['eps']:g}"
    )
    median = entry.get("median_distance")
    distance = f", median {entry.get('norm')} distance {median:.3g}" if median is not None else ""
    model = f"the {threat[0]} ε = {format_eps(threat[1])} threat model" if threat else "the threat model"
    return f"{name} {where}{distance}: verdicts rest on attacks inside {model}"


def type_presence(count: int, n: int, min_share: float = MIN_TYPE_SHARE) -> str:
    """``present`` when the Wilson lower bound of ``count / n`` is at least ``min_share``, ``absent``
    when its upper bound is below it, else ``undetermined`` (the interval straddles the minimum)."""
    low, high = wilson_interval(count, n)
    return "present" if low >= min_share else "absent" if high < min_share else "undetermined"


def perturbation_types(pse: dict, min_share: float = MIN_TYPE_SHARE, threat: tuple[str, float] | None = None) -> dict:
    """(i) Per attack: the share of suppression-, promotion-dominated and balanced images with Wilson
    intervals (counted over the fooled images), each type ``present``, ``absent`` or ``undetermined``
    against ``min_share`` (``type_presence``). The finding holds when at least two types are present,
    does not hold when at least two are absent, and is inconclusive otherwise; below
    ``MIN_FOOLED_IMAGES`` images, insufficient data; an attack outside the ``threat`` model (C&W,
    say) keeps its shares and gets the verdict ``outside the threat model``."""
    out = {}
    for name, entry in pse["attacks"].items():
        types = [int(t) for t in entry["records"]["image_type"]]
        n = len(types)
        shares = {}
        for label, code in TYPES.items():
            count = sum(t == code for t in types)
            shares[label] = {
                "value": count / n if n else None,
                "count": count,
                "ci95": list(wilson_interval(count, n)),
                "presence": type_presence(count, n, min_share),
            }
        present = sum(s["presence"] == "present" for s in shares.values())
        absent = sum(s["presence"] == "absent" for s in shares.values())
        finding = {
            "claim": "perturbations split into suppression-, promotion-dominated and balanced types",
            "shares": shares,
            "n": n,
            "min_n": MIN_FOOLED_IMAGES,
            "min_share": min_share,
            "types_present": present,
            "types_absent": absent,
            "verdict": "holds" if present >= 2 else "does not hold" if absent >= 2 else "inconclusive",
        }
        if not within_threat_model(entry, threat):
            finding.update(verdict=OUTSIDE, reason=outside(entry, name, threat))
        elif n < MIN_FOOLED_IMAGES:
            finding.update(verdict=INSUFFICIENT, reason=f"rests on {n} fooled images (needs ≥ {MIN_FOOLED_IMAGES})")
        out[name] = finding
    return out


def cam_regions(cam: dict, threat: tuple[str, float] | None = None) -> dict:
    """(ii) Per attack: suppression's agreement with the true class's CAM region and promotion's with
    the target's, each minus its agreement with a third class's region (neither true nor target: a
    baseline that also sits on the object), the CAM table's gain with its paired bootstrap interval;
    the gain over a random region of equal shape stays beside it (``over_random``), not judged. An
    attack outside the ``threat`` model gets the verdict ``outside the threat model``."""
    out = {}
    for name, entry in cam.get("attacks", {}).items():
        out[name] = {}
        for kind, region in (("suppression", "true"), ("promotion", "target")):
            gain = entry[f"gain_{kind}_{region}_over_other"]
            finding = _finding(
                f"the {kind}-dominated part of δ sits on the {region} class's CAM region more than on a "
                "third class's region",
                gain["mean"],
                gain["ci95"],
                gain["n"],
                [requirement(gain["n"], MIN_FOOLED_IMAGES, f"images with a {kind}-dominated part")],
            )
            finding["over_random"] = entry[f"gain_{kind}_{region}"]
            if not within_threat_model(entry, threat):
                finding.update(verdict=OUTSIDE, reason=outside(entry, name, threat))
            out[name][f"{kind}_on_{region}_region"] = finding
    return out


def sensitive_units(dissection: dict) -> dict:
    """(iii) The most attack-sensitive units are interpretable: Spearman ρ of sensitivity with best
    IoU (Fisher interval over units), and the detector share of the top-k sensitive units minus the
    ``randomk`` share (the expectation for k random units, the layer's detector share; Wilson
    interval of the top-k count shifted by it). Both rest on the probe images the sensitivity is
    averaged over, and both need a detector in the layer: the claim is about interpretable units, and
    with none a correlation with IoUs all below the detector threshold cannot carry it (the
    dissection table still shows ρ). When the dissection measured label stability, only detectors
    with a stable label count (the ``stability`` block's shares and count)."""
    units, k = dissection["num_units"], dissection["k"]
    probe = requirement(dissection["num_probe_images"], MIN_PROBE_IMAGES, "probe images for the sensitivity")
    rho = dissection["spearman_sensitivity_iou"]
    stability = dissection.get("stability")
    counted = stability or dissection  # the detector shares the top-k comparison uses
    baseline = counted["randomk_detector_share"]
    any_detector = (
        requirement(stability["stable_detectors"], 1, "detector units with a stable label in the layer")
        if stability
        else requirement(dissection["interpretable_units"], 1, "detector units in the layer")
    )
    detectors = round(counted["topk_detector_share"] * k)
    low, high = wilson_interval(detectors, k)
    top = _finding(
        f"the top-{k} attack-sensitive units are detectors more often than units at random",
        detectors / k - baseline,
        [low - baseline, high - baseline],
        k,
        [
            requirement(k, MIN_TOP_K, "top-k units"),
            probe,
            any_detector,
        ],
    )
    return {
        "sensitivity_iou_correlation": _finding(
            "unit sensitivity correlates positively with the unit's best IoU",
            None if math.isnan(rho) else rho,
            spearman_interval(rho, units),
            units,
            [requirement(units, MIN_UNITS, "units"), probe, any_detector],
        ),
        "top_sensitive_are_detectors": top,
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
        finding = _finding(
            claim,
            entry["value"],
            [log(b) for b in entry["ci95"]],
            entry["n"],
            [requirement(entry["n"], MIN_FOOLED_IMAGES, "fooled images")],
        )
        finding["ci95"] = entry["ci95"]  # reported as the ratio (1 = no preference)
        out[key] = finding
    return out


def notes(report: dict) -> list[str]:
    """Plain sentences a reader needs beside the findings: a quick run, a randomized model (attacked with EOT),
    and findings that have nothing to rest on (an attack that fooled nothing)."""
    return quick_note(report) + randomized_note(report) + gathered_note(report) + idle_attack_notes(report)


def quick_note(report: dict) -> list[str]:
    """The sentence saying a quick run's numbers are not to be quoted (none for a full analysis)."""
    if not report.get("settings", {}).get("quick"):
        return []
    return [
        f"Quick run: {report['num_samples']} images, the robustness and sensitivity attacks at their smallest "
        "budget. It checks that every section runs; its numbers are not to be quoted (run without --quick for those)."
    ]


def gathered_note(report: dict) -> list[str]:
    """The sentence saying how many probe images it took to gather the fooled images asked for (none
    when the probe set as asked already held enough)."""
    gathered = report.get("gathered")
    if not gathered or (gathered["images"] == gathered["initial"] and not gathered["exhausted"]):
        return []
    fooled = f"{gathered['attack']} fooled {gathered['fooled']} inside the threat model (asked: {gathered['asked']})"
    scope = (
        f"the sections that judge fooled images (PSE, CAM) see all of them, the others the "
        f"{gathered['initial']} images asked for"
    )
    if not gathered["exhausted"]:
        return [f"The probe set grew to {gathered['images']} images so that {fooled}; {scope}."]
    return [f"On all {gathered['images']} images of the split {fooled}: the split ran out first; {scope}."]


def randomized_note(report: dict) -> list[str]:
    """The sentence saying the model is randomized and how it was attacked (none for a deterministic model)."""
    if not report.get("randomized"):
        return []
    settings = report.get("settings", {})
    version = settings.get("autoattack_version")
    return [
        "The model is randomized (two forward passes of the same images gave different outputs): our attacks "
        f"averaged {settings.get('eot_samples')} forward passes per gradient (EOT)"
        + (f" and AutoAttack ran its {version} version" if version else "")
        + "; robust accuracies of a randomized model vary from run to run."
    ]


def idle_attack_notes(report: dict) -> list[str]:
    """Sentences for findings with nothing to rest on (an attack that fooled nothing)."""
    attacks = report.get("pse", {}).get("attacks", {})
    if not attacks:
        return []
    idle = [name for name, entry in attacks.items() if entry["num_analyzed"] == 0]
    attacked = max(entry["num_attacked"] for entry in attacks.values())
    if attacked == 0:
        return [
            "The model classified none of the probe samples correctly, so no attack had a sample to fool and "
            "the PSE and CAM findings have nothing to analyse."
        ]
    if len(idle) == len(attacks):
        return [
            f"No attack fooled any of the {attacked} correctly classified probe samples: the model held on every "
            "one, so the PSE and CAM findings have nothing to analyse."
        ]
    return [
        f"{name} fooled none of the {attacks[name]['num_attacked']} correctly classified probe samples: its PSE "
        "and CAM findings have nothing to analyse."
        for name in idle
    ]


def findings(report: dict) -> dict:
    """The ``findings`` block of a report: whichever of the findings its sections allow, and ``notes``."""
    out = {}
    threat = (report["norm"], float(report["eps"])) if report.get("eps") is not None and "norm" in report else None
    if "pse" in report:
        out["perturbation_types"] = perturbation_types(report["pse"], threat=threat)
        if "ground_truth" in report["pse"]:
            out["ground_truth_specificity"] = ground_truth_specificity(report["pse"]["ground_truth"])
    if "cam" in report:
        out["cam_regions"] = cam_regions(report["cam"], threat)
    if "dissection" in report:
        out["sensitive_units"] = sensitive_units(report["dissection"])
    out["notes"] = notes(report)
    return out
