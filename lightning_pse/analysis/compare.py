"""Several reports side by side: one row per checkpoint, and how each interpretation metric moves
with robust accuracy across them (``analyze.py --ckpt a.ckpt b.ckpt ... --out cmp/``).

Works on ``report.json`` dicts only, so it compares fresh analyses and saved reports alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..dissect import spearman
from ..stats import holm, spearman_interval, spearman_permutation_p
from .findings import MIN_FOOLED_IMAGES, MIN_PROBE_IMAGES, MIN_UNITS

# Method knobs that tell training runs of one class apart (PGD-AT's inner loss, PSE-AT's ablations, β).
METHOD_KNOBS = ("attack_loss", "steer", "unit_penalty", "beta")
ALPHA = 0.05  # family-wise error of the Holm-corrected links
MIN_FISHER_POINTS = 10  # Fisher's z interval from this many points on (docs/method.md §7); below, the exact p only
# The CAM columns and the CAM section's gain each reads ({mean, ci95, n}).
CAM_GAINS = {
    "cam_suppression_gain": "gain_suppression_true",
    "cam_promotion_gain": "gain_promotion_target",
    "cam_suppression_gain_other": "gain_suppression_true_over_other",
    "cam_promotion_gain_other": "gain_promotion_target_over_other",
}
# The interpretation columns set against robust accuracy: (column, what it is).
INTERPRETATION = {
    "pse_suppression_share": "share of suppression-dominated images",
    "pse_promotion_share": "share of promotion-dominated images",
    "pse_balanced_share": "share of balanced images",
    "pse_suppression_energy": "mean energy share of suppression-dominated groups",
    "pse_promotion_energy": "mean energy share of promotion-dominated groups",
    "pse_promotion_fraction": "mean whole-image P⁺/(P⁺+S⁺) (bounded PSR statistic)",
    "cam_suppression_gain": "CAM agreement − random region, suppression on the true class",
    "cam_promotion_gain": "CAM agreement − random region, promotion on the target class",
    "cam_suppression_gain_other": "CAM agreement − third class's region, suppression on the true class",
    "cam_promotion_gain_other": "CAM agreement − third class's region, promotion on the target class",
    "cam_shift": "CAM shift: IoU of the true-class CAM region on x and on x′",
    "interpretable_units": "interpretable units (IoU > threshold)",
    "stable_detectors": "detectors with a stable label (when measured)",
    "spearman_sensitivity_iou": "Spearman ρ of unit sensitivity with best IoU",
}


def method_label(report: dict) -> str:
    """``PSEATModule(steer=0.5, unit_penalty=0)``: the training class and the knobs that distinguish
    its variants; the source's label for a model that was not trained here."""
    source = report.get("source", {})
    training = source.get("training", {})
    method = training.get("method")
    if method is None:
        return str(source.get("label", report.get("model")))
    hparams = source.get("hyper_parameters", {})
    knobs = [f"{k}={hparams[k]}" for k in METHOD_KNOBS if k in hparams]
    return f"{method}({', '.join(knobs)})" if knobs else method


def run_of(report: dict) -> str:
    """The training run a checkpoint belongs to: ``<run>`` of ``<run>/checkpoints/x.ckpt``, else its folder."""
    path = Path(str(report.get("checkpoint", "")))
    return str(path.parent.parent if path.parent.name == "checkpoints" else path.parent)


def _value(entry: dict | None) -> float | None:
    return None if entry is None else entry.get("value")


def _gain(cam: dict, key: str) -> float | None:
    """The mean of the CAM section's gain ``key`` (the number its table and findings show)."""
    return (cam.get(key) or {}).get("mean")


def chosen_attack(reports: list[dict]) -> str | None:
    """The one attack the PSE and CAM columns come from, by rule: among the bounded attacks of the
    reports' ``pse`` blocks, the one that fooled the most images summed over every report (ties: the
    first in report order). Unbounded attacks (C&W) succeed at any distance, outside the threat model."""
    fooled: dict[str, int] = {}
    for report in reports:
        for name, entry in (report.get("pse") or {}).get("attacks", {}).items():
            if entry.get("bounded"):
                fooled[name] = fooled.get(name, 0) + int(entry["num_analyzed"])
    return max(fooled, key=lambda name: fooled[name]) if fooled else None


def support(report: dict, attack: str | None) -> dict[str, tuple[int, int]]:
    """Per ``INTERPRETATION`` column: ``(n, minimum)``, the sample the report's value rests on and the
    minimum of the finding it belongs to (``analysis.findings``): fooled images for the PSE columns
    and the CAM shift, images with the part for a CAM gain, units (and probe images) for the
    dissection columns."""
    pse = ((report.get("pse") or {}).get("attacks") or {}).get(attack) or {}
    cam = ((report.get("cam") or {}).get("attacks") or {}).get(attack) or {}
    dissection = report.get("dissection") or {}
    fooled = (int(pse.get("num_analyzed", 0)), MIN_FOOLED_IMAGES)
    units = dissection.get("num_units", 0)
    probe = dissection.get("num_probe_images", 0)
    # ρ needs both its units and its probe images: the shortfall that binds is the one shown.
    rho = (units, MIN_UNITS) if units < MIN_UNITS or probe >= MIN_PROBE_IMAGES else (probe, MIN_PROBE_IMAGES)
    out = {column: fooled for column in INTERPRETATION if column.startswith("pse_")}
    for column, key in CAM_GAINS.items():
        out[column] = ((cam.get(key) or {}).get("n", 0), MIN_FOOLED_IMAGES)
    out["cam_shift"] = fooled
    out["interpretable_units"] = (units, MIN_UNITS)
    out["stable_detectors"] = (units, MIN_UNITS)
    out["spearman_sensitivity_iou"] = rho
    return out


def comparison_row(report: dict, label: str, attack: str | None = None) -> dict:
    """One checkpoint's row: identity, clean and worst-case robust accuracy with their intervals, the
    ``INTERPRETATION`` columns of ``attack`` (None where the report lacks the section), and
    ``support`` (column → ``[n, minimum]``) with ``below_minimum``, the columns whose value rests on
    fewer samples than their finding needs (shown, left out of the correlations)."""
    pse = ((report.get("pse") or {}).get("attacks") or {}).get(attack) or {}
    cam = ((report.get("cam") or {}).get("attacks") or {}).get(attack) or {}
    dissection = report.get("dissection", {})
    types, energy = pse.get("image_type_shares", {}), pse.get("group_energy_shares", {})
    sizes = support(report, attack)
    row = {
        "label": label,
        "run": run_of(report),
        "method": method_label(report),
        "epoch": report.get("source", {}).get("epoch"),
        "clean": _value(report.get("clean")),
        "clean_ci95": (report.get("clean") or {}).get("ci95"),
        "robust": _value(report.get("worst_case")),
        "robust_ci95": (report.get("worst_case") or {}).get("ci95"),
        "n": (report.get("worst_case") or {}).get("n"),
        "attack": attack,
        "pse_suppression_share": types.get("suppression"),
        "pse_promotion_share": types.get("promotion"),
        "pse_balanced_share": types.get("balanced"),
        "pse_suppression_energy": energy.get("suppression"),
        "pse_promotion_energy": energy.get("promotion"),
        "pse_promotion_fraction": pse.get("promotion_fraction"),
        **{column: _gain(cam, key) for column, key in CAM_GAINS.items()},
        "cam_shift": cam.get("cam_shift"),
        "interpretable_units": dissection.get("interpretable_units"),
        "stable_detectors": (dissection.get("stability") or {}).get("stable_detectors"),
        "spearman_sensitivity_iou": dissection.get("spearman_sensitivity_iou"),
        "support": {column: list(size) for column, size in sizes.items()},
    }
    row["below_minimum"] = [c for c, (n, need) in sizes.items() if _finite(row[c]) and n < need]
    return row


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def robust_pairs(rows: list[dict], column: str) -> list[tuple[float, float]]:
    """``[(value of column, robust accuracy), ...]`` over the rows where both are finite numbers and
    the value rests on at least its finding's minimum sample."""
    return [
        (r[column], r["robust"])
        for r in rows
        if _finite(r[column]) and _finite(r["robust"]) and column not in r.get("below_minimum", [])
    ]


def correlations(rows: list[dict]) -> dict[str, dict]:
    """Per ``INTERPRETATION`` column: Spearman ρ with robust accuracy over the rows that have both
    (points below their minimum sample left out), ``n``, the two-sided permutation ``p``
    (``stats.spearman_permutation_p``: exact below 10 points), the 95 % interval (Fisher z) only from
    ``MIN_FISHER_POINTS`` points on, ``p_holm`` (Holm over every column with a p-value) and ``link``:
    ``positive`` or ``negative`` when ``p_holm < 0.05``, else ``none claimed``."""
    out = {}
    for column, meaning in INTERPRETATION.items():
        pairs = robust_pairs(rows, column)
        values, robust = [p[0] for p in pairs], [p[1] for p in pairs]
        rho = spearman(torch.tensor(values), torch.tensor(robust)) if pairs else math.nan
        n = len(pairs)
        out[column] = {
            "rho": rho,
            "ci95": spearman_interval(rho, n) if n >= MIN_FISHER_POINTS else [math.nan, math.nan],
            "p": spearman_permutation_p(values, robust) if n >= 3 and not math.isnan(rho) else math.nan,
            "n": n,
            "meaning": meaning,
        }
    for entry, adjusted in zip(out.values(), holm([entry["p"] for entry in out.values()])):
        entry["p_holm"] = adjusted
        linked = not math.isnan(adjusted) and adjusted < ALPHA
        entry["link"] = ("positive" if entry["rho"] > 0 else "negative") if linked else "none claimed"
    return out


def compare(reports: list[tuple[str, dict]]) -> dict:
    """The comparison report of ``(label, report)`` pairs: ``rows``, ``correlations`` with robust
    accuracy, ``metrics_tested`` (the Holm family's size), the ``attack`` the PSE and CAM columns
    come from, and what was compared (threat models and probe sizes, which must agree to compare)."""
    attack = chosen_attack([report for _, report in reports])
    rows = [comparison_row(report, label, attack) for label, report in reports]
    threat = sorted({(r.get("threat_model") or {}).get("eps_text", "?") for _, r in reports})
    found = correlations(rows)
    return {
        "kind": "comparison",
        "rows": rows,
        "attack": attack,
        "correlations": found,
        "metrics_tested": sum(not math.isnan(entry["p"]) for entry in found.values()),
        "threat_models": threat,
        "probe_sizes": sorted({r.get("num_samples") for _, r in reports if r.get("num_samples") is not None}),
        "warnings": [f"the reports use different radii ({', '.join(threat)})"] if len(threat) > 1 else [],
    }


def series(rows: list[dict], column: str) -> dict[str, list[tuple[float, float]]]:
    """``run → [(epoch, value), ...]`` sorted by epoch, for a trend plot of ``column``."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r["epoch"] is not None and _finite(r[column]):
            out.setdefault(f"{r['method']} · {Path(r['run']).name}", []).append((r["epoch"], r[column]))
    return {run: sorted(points) for run, points in out.items()}
