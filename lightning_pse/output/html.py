"""``report.html``: one self-contained page (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math

from ..schemas import report_json
from .text import format_eps, format_interval


def img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


class Raw(str):
    """Markup a table cell shows as it is (``fmt`` escapes every other value)."""


def fmt(value) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def keyed_table(columns: dict[str, str], rows: list[dict]) -> str:
    """A table whose columns are named by key: ``columns`` maps a row key to its title (in column
    order), each row is a dict holding those keys (a missing key shows as —)."""
    return table(list(columns.values()), [[row.get(key) for key in columns] for row in rows])


def interval_of(entry: dict) -> str:
    """An entry's ``ci95`` as ``[a, b]`` to three decimals."""
    low, high = entry["ci95"]
    return f"[{low:.3f}, {high:.3f}]"


def settings_text(settings: dict) -> str:
    """An attack's settings as ``key=value`` pairs (ε left out: the table shows it)."""
    shown = {k: v for k, v in settings.items() if k not in ("targeted", "target_rule", "eps") and v is not None}
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


def _header(report: dict) -> str:
    source = report.get("source", {})
    prov = report.get("provenance", {})
    where = [  # evaluate()'s reports name no checkpoint, model or data
        f"checkpoint <code>{html.escape(str(report.get('checkpoint', '—')))}</code>",
        f"model <code>{html.escape(str(report.get('model', '—')))}</code> ({html.escape(str(source.get('kind', '')))})",
        f"data <code>{html.escape(str(report.get('dataset', '—')))}</code>",
        f"{report['num_samples']} probe samples of the {html.escape(str(report.get('split', 'test')))} split",
    ]
    if source.get("epoch") is not None:
        where.append(f"epoch {source['epoch']}, step {source.get('global_step')}")
    if source.get("training"):
        training = {k: format_eps(v) if k == "eps" and v is not None else v for k, v in source["training"].items()}
        where.append("trained with " + html.escape(", ".join(f"{k} {v}" for k, v in training.items())))
    made = [f"{html.escape(str(prov[k]))}" for k in ("date", "device") if k in prov]
    if prov.get("git_commit"):
        made.append(f"commit <code>{html.escape(prov['git_commit'][:10])}</code>")
    if prov.get("versions"):
        made.append(html.escape(", ".join(f"{k} {v}" for k, v in prov["versions"].items())))
    return (
        f"<h1>lightning_pse report</h1><p>{' · '.join(where)}</p>"
        f"<p class='small'>{' · '.join(made)} · probe seed {prov.get('probe_seed', '—')}</p>"
    )


def _findings(findings: dict, rows: list[list]) -> list[str]:
    """The findings block: its notes, then ``rows``, one per claim with its effect, interval, sample
    size, minimum and verdict."""
    notes = [f"<p>{html.escape(note)}</p>" for note in findings.get("notes", [])]
    if not rows and not notes:
        return []
    return [
        "<h2>Findings</h2><p class='small'>Verdicts computed from the 95 % intervals: <b>holds</b> when the "
        "interval lies on the claimed side, <b>does not hold</b> when on the other, else <b>inconclusive</b>; "
        "<b>insufficient data</b> below a finding's minimum sample size (docs/method.md).</p>",
        *notes,
        table(["claim", "effect", "95 % interval", "n", "minimum n", "verdict"], rows) if rows else "",
    ]


def render(report: dict, figures: dict[str, bytes], blocks: list[str], finding_rows: list[list]) -> str:
    """The page for ``report`` (the report.json dict): its header, the findings (``finding_rows``:
    ``[claim, effect, interval, n, minimum n, verdict]``, from the sections), ``blocks`` (each
    section's HTML, drawn by the section from its own report block) and the whole report.json."""
    parts = [_header(report), *_findings(report.get("findings", {}), finding_rows), *blocks]
    for error in report.get("figure_errors", []):
        parts.append(
            f'<p class="warn">⚠ a figure could not be drawn ({html.escape(error)}); the numbers are complete</p>'
        )
    parts.append(
        "<details><summary>report.json (every number and setting)</summary><pre>"
        + html.escape(report_json(report))
        + "</pre></details>"
    )
    return _page("lightning_pse report", parts)


def _page(title: str, parts: list[str]) -> str:
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}.warn{color:#a40}img{max-width:100%}"
        ".small{color:#555;font-size:90%}.grey{color:#999}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
        f"</head><body>{''.join(parts)}</body></html>"
    )


def gain_text(gain: dict) -> str:
    """A gain over its random baseline: ``mean [a, b] (n = N)``."""
    if gain["mean"] is None:
        return f"— (n = {gain['n']})"
    return f"{gain['mean']:.3f} {format_interval(gain['ci95'])} (n = {gain['n']})"


def _rate_ci(value, ci) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def supported_value(row: dict, column: str):
    """A comparison cell: the value, or, when it rests on fewer samples than its finding's minimum,
    the value greyed with its n (it is left out of the correlations)."""
    value = row[column]
    if column not in row.get("below_minimum", []):
        return value
    n, need = row["support"][column]
    return Raw(f'<span class="grey">{fmt(value)} (n = {n} &lt; {need}; left out)</span>')


def _p_text(p: float) -> str:
    return "—" if p is None or math.isnan(p) else f"{p:.3g}"


def render_comparison(comparison: dict, figures: dict[str, bytes]) -> str:
    """The page of ``analysis.compare.compare``'s dict: the table of checkpoints (its ``columns``:
    key → title, the sections' comparison columns), the trend and correlation figures, the rank
    correlations with robust accuracy and their Holm-corrected links."""
    rows = comparison["rows"]
    attack = comparison.get("attack")
    parts = [
        "<h1>lightning_pse comparison</h1>",
        f"<p>{len(rows)} checkpoints; radius {html.escape(', '.join(comparison['threat_models']))}; probe sizes "
        f"{html.escape(', '.join(str(n) for n in comparison['probe_sizes']))}. Robust accuracy is the worst case "
        "over every attack of the report, with its 95 % Wilson interval. The PSE and CAM columns come from "
        + (
            f"<code>{html.escape(attack)}</code>, the bounded attack that fooled the most images over all checkpoints"
            if attack
            else "no bounded attack (none in the reports)"
        )
        + "; a value greyed rests on fewer samples than its finding's minimum and is left out of the "
        "correlations.</p>",
    ]
    parts.extend(f'<p class="warn">⚠ {html.escape(w)}</p>' for w in comparison["warnings"])
    parts.append(
        table(
            ["checkpoint", "method", "epoch", "clean", "robust", *comparison["columns"].values()],
            [
                [
                    r["label"],
                    r["method"],
                    r["epoch"],
                    _rate_ci(r["clean"], r["clean_ci95"]),
                    _rate_ci(r["robust"], r["robust_ci95"]),
                    *(supported_value(r, key) for key in comparison["columns"]),
                ]
                for r in rows
            ],
        )
    )
    if "trends" in figures:
        parts.append("<h2>Against epoch</h2>" + img(figures["trends"], "trends"))
    parts.append("<h2>Against robust accuracy</h2>")
    parts.append(
        table(
            [
                "metric",
                "Spearman ρ with robust accuracy",
                "95 % interval",
                "p (permutation)",
                "p (Holm)",
                "link",
                "points",
            ],
            [
                [
                    c["meaning"],
                    c["rho"],
                    format_interval(c["ci95"]),
                    _p_text(c["p"]),
                    _p_text(c["p_holm"]),
                    c["link"],
                    c["n"],
                ]
                for c in comparison["correlations"].values()
            ],
        )
    )
    parts.append(
        f'<p class="small">p: two-sided permutation p-value of ρ (exact over every ordering below 10 points); '
        f"Holm-corrected over the {comparison['metrics_tested']} metrics tested; a link is claimed when the "
        "corrected p is below 0.05. Intervals by Fisher's z (Bonett–Wright standard error) from 10 points on, "
        "none below.</p>"
    )
    if "correlations" in figures:
        parts.append(img(figures["correlations"], "correlations"))
    parts.append(
        "<details><summary>comparison (every number)</summary><pre>"
        + html.escape(report_json(comparison))
        + "</pre></details>"
    )
    return _page("lightning_pse comparison", parts)
