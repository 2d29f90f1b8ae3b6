"""Several reports side by side: one row per checkpoint, and how each interpretation metric moves
with robust accuracy across them (``analyze.py --ckpt a.ckpt b.ckpt ... --out cmp/``).

Works on ``report.json`` dicts only, so it compares fresh analyses and saved reports alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..dissect import spearman
from ..sections.base import Cell, Column
from ..stats import holm, spearman_interval, spearman_permutation_p
from .registry import REGISTRY

# Method knobs that tell training runs of one class apart (PGD-AT's inner loss, PSE-AT's ablations, β).
METHOD_KNOBS = ("attack_loss", "steer", "unit_penalty", "beta")
ALPHA = 0.05  # family-wise error of the Holm-corrected links
MIN_FISHER_POINTS = 10  # Fisher's z interval from this many points on (docs/method.md §7); below, the exact p only


def interpretation_columns() -> dict[str, Column]:
    """The interpretation columns set against robust accuracy: every registered section's
    ``comparison_columns``, in report order."""
    return {key: column for entry in REGISTRY.values() for key, column in entry.section.comparison_columns.items()}


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


def chosen_attack(reports: list[dict]) -> str | None:
    """The one attack the per-attack columns (PSE, CAM) come from, by rule: among the bounded attacks
    the sections report (``Section.bounded_fooled``), the one that fooled the most images summed over
    every report (ties: the first in report order). Unbounded attacks (C&W) succeed at any distance,
    outside the threat model."""
    fooled: dict[str, int] = {}
    for report in reports:
        for entry in REGISTRY.values():
            for name, count in entry.section.bounded_fooled(report).items():
                fooled[name] = fooled.get(name, 0) + count
    return max(fooled, key=lambda name: fooled[name]) if fooled else None


def cells(report: dict, attack: str | None) -> dict[str, Cell]:
    """Every interpretation column's ``Cell`` of one report (``Section.comparison``)."""
    return {key: cell for entry in REGISTRY.values() for key, cell in entry.section.comparison(report, attack).items()}


def comparison_row(report: dict, label: str, attack: str | None = None) -> dict:
    """One checkpoint's row: identity, clean and worst-case robust accuracy with their intervals, the
    interpretation columns of ``attack`` (None where the report lacks the section), ``support``
    (column → ``[n, minimum]``), ``intervals`` (column → the 95 % interval, where the section gives
    one) and ``below_minimum``, the columns whose value rests on fewer samples than their finding
    needs (shown, left out of the correlations)."""
    found = cells(report, attack)
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
        **{column: cell.value for column, cell in found.items()},
        "support": {column: [cell.n, cell.min_n] for column, cell in found.items()},
        "intervals": {column: cell.ci95 for column, cell in found.items()},
    }
    row["below_minimum"] = [c for c, cell in found.items() if _finite(cell.value) and cell.n < cell.min_n]
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
    """Per interpretation column: Spearman ρ with robust accuracy over the rows that have both
    (points below their minimum sample left out), ``n``, the two-sided permutation ``p``
    (``stats.spearman_permutation_p``: exact below 10 points), the 95 % interval (Fisher z) only from
    ``MIN_FISHER_POINTS`` points on, ``p_holm`` (Holm over every column with a p-value) and ``link``:
    ``positive`` or ``negative`` when ``p_holm < 0.05``, else ``none claimed``."""
    out = {}
    for column, described in interpretation_columns().items():
        pairs = robust_pairs(rows, column)
        values, robust = [p[0] for p in pairs], [p[1] for p in pairs]
        rho = spearman(torch.tensor(values), torch.tensor(robust)) if pairs else math.nan
        n = len(pairs)
        out[column] = {
            "rho": rho,
            "ci95": spearman_interval(rho, n) if n >= MIN_FISHER_POINTS else [math.nan, math.nan],
            "p": spearman_permutation_p(values, robust) if n >= 3 and not math.isnan(rho) else math.nan,
            "n": n,
            "meaning": described.meaning,
        }
    for entry, adjusted in zip(out.values(), holm([entry["p"] for entry in out.values()])):
        entry["p_holm"] = adjusted
        linked = not math.isnan(adjusted) and adjusted < ALPHA
        entry["link"] = ("positive" if entry["rho"] > 0 else "negative") if linked else "none claimed"
    return out


def compare(reports: list[tuple[str, dict]]) -> dict:
    """The comparison report of ``(label, report)`` pairs: ``rows``, ``correlations`` with robust
    accuracy, ``metrics_tested`` (the Holm family's size), the ``attack`` the per-attack columns
    come from, ``columns`` (key → table title), and what was compared (threat models and probe
    sizes, which must agree to compare)."""
    attack = chosen_attack([report for _, report in reports])
    rows = [comparison_row(report, label, attack) for label, report in reports]
    threat = sorted({(r.get("threat_model") or {}).get("eps_text", "?") for _, r in reports})
    found = correlations(rows)
    return {
        "kind": "comparison",
        "rows": rows,
        "columns": {key: column.title for key, column in interpretation_columns().items()},
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
