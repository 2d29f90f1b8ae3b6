"""Several reports side by side: one row per checkpoint, and how each interpretation metric moves
with robust accuracy across them (``analyze.py --ckpt a.ckpt b.ckpt ... --out cmp/``).

Works on ``report.json`` dicts only, so it compares fresh analyses and saved reports alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..dissect import spearman
from ..stats import spearman_interval

# Method knobs that tell training runs of one class apart (PGD-AT's inner loss, PSE-AT's ablations, β).
METHOD_KNOBS = ("attack_loss", "steer", "unit_penalty", "beta")
# The interpretation columns set against robust accuracy: (column, what it is).
INTERPRETATION = {
    "pse_suppression_share": "share of suppression-dominated images (first PSE attack)",
    "pse_promotion_share": "share of promotion-dominated images",
    "pse_balanced_share": "share of balanced images",
    "pse_suppression_energy": "mean energy share of suppression-dominated groups",
    "pse_promotion_energy": "mean energy share of promotion-dominated groups",
    "pse_promotion_fraction": "mean whole-image P⁺/(P⁺+S⁺) (bounded PSR statistic)",
    "cam_suppression_gain": "CAM agreement − baseline, suppression on the true class",
    "cam_promotion_gain": "CAM agreement − baseline, promotion on the target class",
    "cam_shift": "CAM shift: IoU of the true-class CAM region on x and on x′",
    "interpretable_units": "interpretable units (IoU > threshold)",
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


def _gain(cam: dict, kind: str, region: str) -> float | None:
    """The CAM section's gain over the random baseline (the number its table and finding show)."""
    return (cam.get(f"gain_{kind}_{region}") or {}).get("mean")


def first_attack(section: dict | None) -> tuple[str | None, dict]:
    """The first entry of a ``pse`` or ``cam`` block's ``attacks``."""
    return next(iter((section or {}).get("attacks", {}).items()), (None, {}))


def comparison_row(report: dict, label: str) -> dict:
    """One checkpoint's row: identity, clean and worst-case robust accuracy with their intervals,
    and the ``INTERPRETATION`` columns (None where the report lacks the section)."""
    pse_attack, pse = first_attack(report.get("pse"))
    cam_attack, cam = first_attack(report.get("cam"))
    dissection = report.get("dissection", {})
    types, energy = pse.get("image_type_shares", {}), pse.get("group_energy_shares", {})
    return {
        "label": label,
        "run": run_of(report),
        "method": method_label(report),
        "epoch": report.get("source", {}).get("epoch"),
        "clean": _value(report.get("clean")),
        "clean_ci95": (report.get("clean") or {}).get("ci95"),
        "robust": _value(report.get("worst_case")),
        "robust_ci95": (report.get("worst_case") or {}).get("ci95"),
        "n": (report.get("worst_case") or {}).get("n"),
        "pse_attack": pse_attack,
        "pse_suppression_share": types.get("suppression"),
        "pse_promotion_share": types.get("promotion"),
        "pse_balanced_share": types.get("balanced"),
        "pse_suppression_energy": energy.get("suppression"),
        "pse_promotion_energy": energy.get("promotion"),
        "pse_promotion_fraction": pse.get("promotion_fraction"),
        "cam_attack": cam_attack,
        "cam_suppression_gain": _gain(cam, "suppression", "true"),
        "cam_promotion_gain": _gain(cam, "promotion", "target"),
        "cam_shift": cam.get("cam_shift"),
        "interpretable_units": dissection.get("interpretable_units"),
        "spearman_sensitivity_iou": dissection.get("spearman_sensitivity_iou"),
    }


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def robust_pairs(rows: list[dict], column: str) -> list[tuple[float, float]]:
    """``[(value of column, robust accuracy), ...]`` over the rows where both are finite numbers."""
    return [(r[column], r["robust"]) for r in rows if _finite(r[column]) and _finite(r["robust"])]


def correlations(rows: list[dict]) -> dict[str, dict]:
    """Per ``INTERPRETATION`` column: Spearman ρ with robust accuracy over the rows that have both,
    its 95 % interval (Fisher z; NaN below 4 rows) and ``n``."""
    out = {}
    for column, meaning in INTERPRETATION.items():
        pairs = robust_pairs(rows, column)
        rho = spearman(torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])) if pairs else math.nan
        out[column] = {"rho": rho, "ci95": spearman_interval(rho, len(pairs)), "n": len(pairs), "meaning": meaning}
    return out


def compare(reports: list[tuple[str, dict]]) -> dict:
    """The comparison report of ``(label, report)`` pairs: ``rows``, ``correlations`` with robust
    accuracy, and what was compared (threat models and probe sizes, which must agree to compare)."""
    rows = [comparison_row(report, label) for label, report in reports]
    threat = sorted({(r.get("threat_model") or {}).get("eps_text", "?") for _, r in reports})
    return {
        "kind": "comparison",
        "rows": rows,
        "correlations": correlations(rows),
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
