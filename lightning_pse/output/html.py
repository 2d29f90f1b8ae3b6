"""``report.html``: one self-contained page (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json

from .text import format_eps, format_interval


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _dissection(d: dict, figures: dict[str, bytes]) -> list[str]:
    rho = d["spearman_sensitivity_iou"]
    if rho > 0:
        sign = "positive: the more attack-sensitive units tend to be the more interpretable"
    elif rho < 0:
        sign = "negative: the more attack-sensitive units tend to be the less interpretable"
    else:  # zero, or nan when a ranking is constant
        sign = "zero" if rho == 0 else "undefined"
    parts = [
        f"<h2>Network dissection</h2><p>Layer <code>{html.escape(d['layer'])}</code>: {d['interpretable_units']} "
        f"of {d['num_units']} units are detectors (best concept IoU above the threshold) on {d['num_images']} "
        f"concept images ({html.escape(d.get('concept_probe', 'concept probe set'))}). "
        f"Spearman correlation of attack sensitivity s<sub>k</sub> "
        f"({html.escape(d['sensitivity_attack'])}, averaged over {d['num_probe_images']} probe images) with the "
        f"best IoU: ρ = {_fmt(rho)} ({sign}).</p>"
    ]
    parts.append(
        _table(
            ["category", "detector units", "concepts detected"],
            [[c, n["units"], n["concepts"]] for c, n in d["detectors_per_category"].items()],
        )
    )
    parts.append(
        _table(
            [f"units (k = {d['k']})", "detector share", "mean best IoU"],
            [
                [
                    f"{name} k by sensitivity" if name != "random" else "random k (expected: the whole layer)",
                    d[f"{key}_detector_share"],
                    d[f"{key}_mean_iou"],
                ]
                for name, key in (("top", "topk"), ("bottom", "bottomk"), ("random", "randomk"))
            ],
        )
    )
    if "sensitivity_vs_iou" in figures:
        parts.append(_img(figures["sensitivity_vs_iou"], "sensitivity vs IoU"))
    return parts


def _ci(entry: dict) -> str:
    low, high = entry["ci95"]
    return f"[{low:.3f}, {high:.3f}]"


def _settings(settings: dict) -> str:
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


def _robustness(report: dict) -> list[str]:
    threat = report["threat_model"]
    parts = [
        f"<h2>Robustness</h2><p>Threat model {threat['norm']}, ε = {threat['eps_text']} ({threat['eps']:.5g} in "
        f"pixels). Clean accuracy {_fmt(report['clean']['value'])} {_ci(report['clean'])} "
        f"({report['clean']['count']}/{report['clean']['n']}) · worst case over "
        f"{', '.join(report['worst_case']['over']) or 'no attack'}: {_fmt(report['worst_case']['value'])} "
        f"{_ci(report['worst_case'])} ({report['worst_case']['count']}/{report['worst_case']['n']}). "
        f"Intervals are 95 % Wilson intervals.</p>"
    ]
    rows = [
        [
            name,
            a["attack"],
            a["norm"],
            a["eps_text"],
            a["targeted"],
            a["robust_accuracy"],
            f"{a['robust']}/{a['n']}",
            _ci(a),
            a["success_rate"],
            a["mean_linf"],
            a["mean_l2"],
        ]
        for name, a in report["attacks"].items()
    ]
    parts.append(
        _table(
            [
                "attack",
                "class",
                "norm",
                "ε",
                "targeted",
                "robust acc",
                "robust / n",
                "95 % interval",
                "success rate",
                "mean ℓ∞ (fooled)",
                "mean ℓ2 (fooled)",
            ],
            rows,
        )
    )
    parts.append(
        _table(["attack", "settings"], [[name, _settings(a["settings"])] for name, a in report["attacks"].items()])
    )
    if "autoattack" in report:
        aa, rb = report["autoattack"], report["robustbench"]
        parts.append(
            f"<h3>AutoAttack (standard: {', '.join(aa['attacks'])})</h3><p>Robust accuracy "
            f"{_fmt(aa['value'])} {_ci(aa)} ({aa['count']}/{aa['n']}). Samples only AutoAttack broke: "
            f"{aa['broken_only_by_autoattack']}; only our attacks broke: {aa['broken_only_by_our_attacks']}.</p>"
        )
        parts.append(
            _table(
                ["clean_acc", "autoattack_acc", "threat_model", "eps", "n_examples"],
                [[rb["clean_acc"], rb["autoattack_acc"], rb["threat_model"], rb["eps_text"], rb["n_examples"]]],
            )
        )
    for flag in report.get("warnings", []) + report.get("sanity", []):
        parts.append(f'<p class="warn">⚠ {html.escape(flag)}</p>')
    if not report.get("sanity"):
        parts.append("<p>Sanity checks: no zero gradients; no black-box attack beats the white-box ones.</p>")
    return parts


def finding_rows(findings: dict) -> list[list]:
    """The findings as ``[claim, effect, interval, n, minimum n, verdict]`` rows, leaving out those
    with no sample at all (``findings["notes"]`` says why in a sentence); shared by the page and the
    terminal."""
    rows = []
    for attack, entry in findings.get("perturbation_types", {}).items():
        if entry["n"]:
            shares = ", ".join(
                f"{label} {_fmt(s['value'])} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]"
                for label, s in entry["shares"].items()
            )
            rows.append([f"(i) {entry['claim']} ({attack})", shares, "—", entry["n"], entry["min_n"], _verdict(entry)])
    for attack, entry in findings.get("cam_regions", {}).items():
        rows.extend(_finding_row(f"(ii) {f['claim']} ({attack})", f) for f in entry.values() if f["n"])
    rows.extend(_finding_row(f"(iii) {f['claim']}", f) for f in findings.get("sensitive_units", {}).values())
    rows.extend(
        _finding_row(f"ground truth: {f['claim']} (ratio; 1 = none)", f)
        for f in findings.get("ground_truth_specificity", {}).values()
    )
    return rows


def _findings(findings: dict) -> list[str]:
    """The findings block: one row per claim with its effect, interval, sample size and verdict."""
    rows = finding_rows(findings)
    notes = [f"<p>{html.escape(note)}</p>" for note in findings.get("notes", [])]
    if not rows and not notes:
        return []
    return [
        "<h2>Findings</h2><p class='small'>Verdicts computed from the 95 % intervals: <b>holds</b> when the "
        "interval lies on the claimed side, <b>does not hold</b> when on the other, else <b>inconclusive</b>; "
        "<b>insufficient data</b> below a finding's minimum sample size (docs/method.md).</p>",
        *notes,
        _table(["claim", "effect", "95 % interval", "n", "minimum n", "verdict"], rows) if rows else "",
    ]


def _verdict(finding: dict) -> str:
    return f"{finding['verdict']}: {finding['reason']}" if "reason" in finding else finding["verdict"]


def _finding_row(claim: str, finding: dict) -> list:
    interval = format_interval(finding["ci95"])
    return [claim, finding["effect"], interval, finding["n"], finding["min_n"], _verdict(finding)]


def render(report: dict, figures: dict[str, bytes]) -> str:
    """The page for ``report`` (the report.json dict) and ``figures`` (name → PNG bytes)."""
    parts = [_header(report), *_findings(report.get("findings", {}))]
    if "attacks" in report:
        parts.extend(_robustness(report))
    if "pse" in report:
        pse = report["pse"]
        rows = [
            [
                name,
                r["success_rate"],
                r["num_analyzed"],
                *r["image_type_shares"].values(),
                *r["group_energy_shares"].values(),
                r.get("promotion_fraction"),
                r.get("median_psr"),
                r.get("clamped_images"),
            ]
            for name, r in pse["attacks"].items()
        ]
        parts.append("<h2>Promotion and suppression (PSE)</h2>")
        parts.append(
            _table(
                [
                    "attack",
                    "success rate",
                    "images",
                    "suppression images",
                    "promotion images",
                    "balanced images",
                    "suppression energy",
                    "promotion energy",
                    "balanced energy",
                    "P⁺/(P⁺+S⁺)",
                    "median PSR (unclamped)",
                    "clamped PSR",
                ],
                rows,
            )
        )
        parts.append(
            '<p class="small">Whole-image PSR = log2(P/S) is clamped at ε = 1e-12 where one effect is ≤ 0 '
            "(±40 there), so its mean says little: the table gives the bounded promotion fraction "
            "P⁺/(P⁺+S⁺) (½ balanced), the median PSR over unclamped images and the share of clamped ones.</p>"
        )
        for key in ("psr_histogram", "category_shares"):
            if key in figures:
                parts.append(_img(figures[key], key))
        for key, png in figures.items():
            if key.startswith("examples/"):
                parts.append(
                    f"<h3>{html.escape(key[9:])}: clean · adversarial · categories "
                    f"(red promotion, blue suppression, grey balanced)</h3>" + _img(png, key)
                )
        if "ground_truth" in pse:
            gt = pse["ground_truth"]
            parts.append(
                "<h3>Ground truth (synthetic benchmark)</h3><p>"
                + html.escape(gt["attack"])
                + "; "
                + html.escape(gt["meaning"])
                + "</p>"
            )
            parts.append(
                _table(
                    [
                        "suppression on object",
                        "promotion on distractor",
                        "promotion on object",
                        "suppression on distractor",
                        "images",
                    ],
                    [
                        [
                            gt["suppression_on_object"],
                            gt["promotion_on_distractor"],
                            gt["promotion_on_object"],
                            gt["suppression_on_distractor"],
                            gt["num_images"],
                        ]
                    ],
                )
            )
    if "cam" in report:
        cam = report["cam"]
        rows = [
            [
                name,
                *(
                    r[k]
                    for k in (
                        "agreement_suppression_true",
                        "baseline_suppression_true",
                        "agreement_promotion_target",
                        "baseline_promotion_target",
                        "cam_shift",
                        "asm_interpretability",
                    )
                ),
                *(_gain(r[f"gain_{kind}"]) for kind in ("suppression_true", "promotion_target")),
            ]
            for name, r in cam["attacks"].items()
        ]
        parts.append(
            f"<h2>Where the perturbation acts (CAM)</h2><p>Regions from {html.escape(str(cam.get('method')))}"
            f" at {html.escape(str(cam.get('layer')))}.</p>"
        )
        parts.append(
            _table(
                [
                    "attack",
                    "IS suppression vs true-class region",
                    "random region",
                    "IS promotion vs target-class region",
                    "random region",
                    "CAM shift (IoU)",
                    "IS of δ vs its ASM region (top 20 %)",
                    "suppression gain over random [95 %] (n)",
                    "promotion gain over random [95 %] (n)",
                ],
                rows,
            )
        )
        parts.append(
            '<p class="small">Each column is a mean over the fooled images where it is defined; a gain is the '
            "mean of agreement − random region over the images where both are defined, with a paired bootstrap "
            "interval.</p>"
        )
        rows = [
            [
                name,
                r["cam_guided"]["full_success"],
                r["cam_guided"]["guided_success"],
                r["cam_guided"]["full_l0"],
                r["cam_guided"]["guided_l0"],
                r["cam_guided"]["full_l2"],
                r["cam_guided"]["guided_l2"],
                r["cam_guided"]["full_linf"],
                r["cam_guided"]["guided_linf"],
            ]
            for name, r in cam["attacks"].items()
            if "cam_guided" in r
        ]
        parts.append("<h3>CAM-guided attacks (support = true- ∪ target-class region)</h3>")
        parts.append(
            _table(
                ["attack", "success", "guided success", "ℓ0", "guided ℓ0", "ℓ2", "guided ℓ2", "ℓ∞", "guided ℓ∞"], rows
            )
        )
        if "localization_iou" in cam:
            parts.append(
                f"<p>True-class region vs object mask: IoU {_fmt(cam['localization_iou'])}, pointing game "
                f"{_fmt(cam['pointing_game'])}.</p>"
            )
        if "cam_overlays" in figures:
            parts.append("<h3>True-class maps on clean images</h3>" + _img(figures["cam_overlays"], "cam"))
    if "dissection" in report:
        parts.extend(_dissection(report["dissection"], figures))
    if "masking" in report:
        parts.append(
            "<h2>Neuron masking</h2><p>Clean and robust accuracy (robust: "
            + html.escape(report["masking_attack"])
            + ", run against the masked model) with the most attack-sensitive units of the layer zeroed, "
            "beside as many random units; " + html.escape(report.get("masking_ranking", "")) + ".</p>"
        )
        parts.append(
            _table(
                ["units masked", "count", "clean acc", "robust acc", "clean acc (random)", "robust acc (random)"],
                [
                    [
                        f"{100 * r['fraction']:g} %",
                        r["num_units"],
                        r["clean_accuracy"],
                        r["robust_accuracy"],
                        r["random_clean_accuracy"],
                        r["random_robust_accuracy"],
                    ]
                    for r in report["masking"]
                ],
            )
        )
        if "masking_curve" in figures:
            parts.append(_img(figures["masking_curve"], "masking curve"))
    for error in report.get("figure_errors", []):
        parts.append(
            f'<p class="warn">⚠ a figure could not be drawn ({html.escape(error)}); the numbers are complete</p>'
        )
    parts.append(
        "<details><summary>report.json (every number and setting)</summary><pre>"
        + html.escape(json.dumps(report, indent=2))
        + "</pre></details>"
    )
    return _page("lightning_pse report", parts)


def _page(title: str, parts: list[str]) -> str:
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}.warn{color:#a40}img{max-width:100%}"
        ".small{color:#555;font-size:90%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
        f"</head><body>{''.join(parts)}</body></html>"
    )


def _gain(gain: dict) -> str:
    if gain["mean"] is None:
        return f"— (n = {gain['n']})"
    return f"{gain['mean']:.3f} {format_interval(gain['ci95'])} (n = {gain['n']})"


def _rate_ci(value, ci) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


COMPARISON_COLUMNS = (
    ("pse_suppression_share", "PSE supp. images"),
    ("pse_promotion_share", "PSE prom. images"),
    ("pse_balanced_share", "PSE bal. images"),
    ("pse_suppression_energy", "supp. energy"),
    ("pse_promotion_energy", "prom. energy"),
    ("pse_promotion_fraction", "P⁺/(P⁺+S⁺)"),
    ("cam_suppression_gain", "CAM supp. − baseline"),
    ("cam_promotion_gain", "CAM prom. − baseline"),
    ("cam_shift", "CAM shift"),
    ("interpretable_units", "interpretable units"),
    ("spearman_sensitivity_iou", "ρ(sensitivity, IoU)"),
)


def render_comparison(comparison: dict, figures: dict[str, bytes]) -> str:
    """The page of ``analysis.compare.compare``'s dict: the table of checkpoints, the trend and
    correlation figures, the rank correlations with robust accuracy."""
    rows = comparison["rows"]
    parts = [
        "<h1>lightning_pse comparison</h1>",
        f"<p>{len(rows)} checkpoints; radius {html.escape(', '.join(comparison['threat_models']))}; probe sizes "
        f"{html.escape(', '.join(str(n) for n in comparison['probe_sizes']))}. Robust accuracy is the worst case "
        "over the report's attacks, with its 95 % Wilson interval.</p>",
    ]
    parts.extend(f'<p class="warn">⚠ {html.escape(w)}</p>' for w in comparison["warnings"])
    parts.append(
        _table(
            ["checkpoint", "method", "epoch", "clean", "robust", *(title for _, title in COMPARISON_COLUMNS)],
            [
                [
                    r["label"],
                    r["method"],
                    r["epoch"],
                    _rate_ci(r["clean"], r["clean_ci95"]),
                    _rate_ci(r["robust"], r["robust_ci95"]),
                    *(r[key] for key, _ in COMPARISON_COLUMNS),
                ]
                for r in rows
            ],
        )
    )
    if "trends" in figures:
        parts.append("<h2>Against epoch</h2>" + _img(figures["trends"], "trends"))
    parts.append("<h2>Against robust accuracy</h2>")
    parts.append(
        _table(
            ["metric", "Spearman ρ with robust accuracy", "95 % interval", "checkpoints"],
            [[c["meaning"], c["rho"], format_interval(c["ci95"]), c["n"]] for c in comparison["correlations"].values()],
        )
    )
    parts.append(
        '<p class="small">Intervals by Fisher\'s z (Bonett–Wright standard error); none below 4 checkpoints.</p>'
    )
    if "correlations" in figures:
        parts.append(_img(figures["correlations"], "correlations"))
    parts.append(
        "<details><summary>comparison (every number)</summary><pre>"
        + html.escape(json.dumps(comparison, indent=2))
        + "</pre></details>"
    )
    return _page("lightning_pse comparison", parts)
