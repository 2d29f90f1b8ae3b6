"""``report.html``: one self-contained page (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json


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
    parts = [f"<h2>Network dissection</h2><p>Layer <code>{html.escape(d['layer'])}</code>: {d['interpretable_units']} "
             f"of {d['num_units']} units are detectors (best concept IoU above the threshold) on {d['num_images']} "
             f"concept images. Spearman correlation of attack sensitivity s<sub>k</sub> "
             f"({html.escape(d['sensitivity_attack'])}) with the best IoU: ρ = {_fmt(rho)} ({sign}).</p>"]
    parts.append(_table(["category", "detector units", "concepts detected"],
                        [[c, n["units"], n["concepts"]] for c, n in d["detectors_per_category"].items()]))
    parts.append(_table(["units (k = %d)" % d["k"], "detector share", "mean best IoU"],
                        [[f"{name} k by sensitivity" if name != "random" else "random k (mean of draws)",
                          d[f"{key}_detector_share"], d[f"{key}_mean_iou"]]
                         for name, key in (("top", "topk"), ("bottom", "bottomk"), ("random", "randomk"))]))
    if "sensitivity_vs_iou" in figures:
        parts.append(_img(figures["sensitivity_vs_iou"], "sensitivity vs IoU"))
    return parts


def render(report: dict, figures: dict[str, bytes]) -> str:
    """The page for ``report`` (the report.json dict) and ``figures`` (name → PNG bytes)."""
    parts = [f"<h1>lightning_pse report</h1><p>checkpoint <code>{html.escape(report['checkpoint'])}</code> · model "
             f"<code>{html.escape(report['model'])}</code> · data <code>{html.escape(report['dataset'])}</code> · "
             f"{report['num_samples']} probe samples</p>"]
    if "attacks" in report:
        rows = [[name, a["attack"], a["norm"], a["eps"], a["targeted"], a["robust_accuracy"], a["success_rate"],
                 a["mean_linf"], a["mean_l2"]] for name, a in report["attacks"].items()]
        parts.append("<h2>Robustness</h2>" + f"<p>clean accuracy {_fmt(report['clean_accuracy'])} · worst case over "
                     f"the ℓ∞ attacks {_fmt(report['worst_case_robust_accuracy'])}</p>")
        parts.append(_table(["attack", "class", "norm", "ε", "targeted", "robust acc", "success rate",
                             "mean ℓ∞ (fooled)", "mean ℓ2 (fooled)"], rows))
        for flag in report.get("sanity", []):
            parts.append(f'<p class="warn">⚠ {html.escape(flag)}</p>')
        if not report.get("sanity"):
            parts.append("<p>Sanity checks: no zero gradients; no black-box attack beats the white-box ones.</p>")
    if "pse" in report:
        pse = report["pse"]
        rows = [[name, r["success_rate"], r["num_analyzed"], *r["image_type_shares"].values(),
                 *r["group_energy_shares"].values(), r["mean_psr"]]
                for name, r in pse.items() if name != "ground_truth"]
        parts.append("<h2>Promotion and suppression (PSE)</h2>")
        parts.append(_table(["attack", "success rate", "images", "suppression images", "promotion images",
                             "balanced images", "suppression energy", "promotion energy", "balanced energy",
                             "mean PSR"], rows))
        for key in ("psr_histogram", "category_shares"):
            if key in figures:
                parts.append(_img(figures[key], key))
        for key, png in figures.items():
            if key.startswith("examples/"):
                parts.append(f"<h3>{html.escape(key[9:])}: clean · adversarial · categories "
                             f"(red promotion, blue suppression, grey balanced)</h3>" + _img(png, key))
        if "ground_truth" in pse:
            gt = pse["ground_truth"]
            parts.append("<h3>Ground truth (synthetic benchmark)</h3><p>" + html.escape(gt["attack"]) + "; "
                         + html.escape(gt["meaning"]) + "</p>")
            parts.append(_table(["suppression on object", "promotion on distractor", "promotion on object",
                                 "suppression on distractor", "images"],
                                [[gt["suppression_on_object"], gt["promotion_on_distractor"], gt["promotion_on_object"],
                                  gt["suppression_on_distractor"], gt["num_images"]]]))
    if "cam" in report:
        cam = report["cam"]
        rows = [[name, *(r[k] for k in ("agreement_suppression_true", "baseline_suppression_true",
                                         "agreement_promotion_target", "baseline_promotion_target", "cam_shift"))]
                for name, r in cam.items() if isinstance(r, dict)]
        parts.append("<h2>Where the perturbation acts (CAM)</h2>")
        parts.append(_table(["attack", "IS suppression vs true-class region", "random region",
                             "IS promotion vs target-class region", "random region", "CAM shift (IoU)"], rows))
        rows = [[name, r["cam_guided"]["full_success"], r["cam_guided"]["guided_success"], r["cam_guided"]["full_l0"],
                 r["cam_guided"]["guided_l0"], r["cam_guided"]["full_l2"], r["cam_guided"]["guided_l2"],
                 r["cam_guided"]["full_linf"], r["cam_guided"]["guided_linf"]]
                for name, r in cam.items() if isinstance(r, dict) and "cam_guided" in r]
        parts.append("<h3>CAM-guided attacks (support = true- ∪ target-class region)</h3>")
        parts.append(_table(["attack", "success", "guided success", "ℓ0", "guided ℓ0", "ℓ2", "guided ℓ2", "ℓ∞",
                             "guided ℓ∞"], rows))
        if "localization_iou" in cam:
            parts.append(f"<p>True-class region vs object mask: IoU {_fmt(cam['localization_iou'])}, pointing game "
                         f"{_fmt(cam['pointing_game'])}.</p>")
        if "cam_overlays" in figures:
            parts.append("<h3>True-class maps on clean images</h3>" + _img(figures["cam_overlays"], "cam"))
    if "dissection" in report:
        parts.extend(_dissection(report["dissection"], figures))
    if "masking" in report:
        parts.append("<h2>Neuron masking</h2><p>Clean and robust accuracy (robust: " + html.escape(report["masking_attack"])
                     + ", run against the masked model) with the most attack-sensitive units of the layer zeroed, "
                     "beside as many random units.</p>")
        parts.append(_table(["units masked", "count", "clean acc", "robust acc", "clean acc (random)",
                             "robust acc (random)"],
                            [[f"{100 * r['fraction']:g} %", r["num_units"], r["clean_accuracy"], r["robust_accuracy"],
                              r["random_clean_accuracy"], r["random_robust_accuracy"]] for r in report["masking"]]))
        if "masking_curve" in figures:
            parts.append(_img(figures["masking_curve"], "masking curve"))
    parts.append("<h2>report.json</h2><pre>" + html.escape(json.dumps(report, indent=2)) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}.warn{color:#a40}img{max-width:100%}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>lightning_pse report</title><style>{style}</style>" \
           f"</head><body>{''.join(parts)}</body></html>"
