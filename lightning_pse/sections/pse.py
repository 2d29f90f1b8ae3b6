"""The PSE section: promotion–suppression analysis of each attack's successful adversarial
examples (``docs/method.md`` §1), and, on data with object masks, where the categories fall."""

from __future__ import annotations

import html
import math

import torch
from torch import Tensor, nn
from torchmetrics import SumMetric

from ..attacks import Attack, presets
from ..groups import check_group_layout
from ..output import figures
from ..output.html import fmt, img, keyed_table
from ..output.images import as_rgb, category_overlay
from ..pse import DEFAULT_PSE, Category, PSESettings, PSEShares, analyze
from ..pse.categories import clamped
from ..pse.ground_truth import TRUTH_COLUMNS, truth_counts, truth_summary
from ..stats import INSUFFICIENT, OUTSIDE, wilson_interval
from .base import AttackRuns, Cell, Column, ProbeBatch, Section, attack_radius_entry, nan_if_none
from .records import Records
from .verdicts import (
    MIN_FOOLED_IMAGES,
    finding_row,
    judged,
    outside,
    requirement,
    verdict_text,
    within_threat_model,
)

# RGB of each category in overlays: red promotion, blue suppression, grey balanced.
CATEGORY_COLORS = {
    int(Category.SUPPRESSION): (0.15, 0.35, 1.0),
    int(Category.PROMOTION): (1.0, 0.15, 0.15),
    int(Category.BALANCED): (0.6, 0.6, 0.6),
}
CATEGORIES = ("suppression", "promotion", "balanced")
RECORD_COLUMNS = (
    "label",
    "target",
    "image_type",
    "image_psr",
    "image_promotion",
    "image_suppression",
    "suppression_energy",
    "promotion_energy",
    "balanced_energy",
    "distance",
)


# The report keys the section writes and its findings (``Section.report_schema``).
REPORT_SCHEMA: dict = {
    "properties": {
        "pse": {
            "type": "object",
            "required": ["attacks"],
            "additionalProperties": False,
            "properties": {
                "attacks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/pse_attack"}},
                "ground_truth": {"$ref": "#/$defs/ground_truth"},
            },
        }
    },
    "findings": {
        "perturbation_types": {"type": "object", "additionalProperties": {"$ref": "#/$defs/types_finding"}},
        "ground_truth_specificity": {"type": "object", "additionalProperties": {"$ref": "#/$defs/finding"}},
    },
    "$defs": {
        "category_shares": {
            "type": "object",
            "required": ["suppression", "promotion", "balanced"],
            "additionalProperties": False,
            "properties": {
                "suppression": {"$ref": "#/$defs/share"},
                "promotion": {"$ref": "#/$defs/share"},
                "balanced": {"$ref": "#/$defs/share"},
            },
        },
        "pse_attack": {
            "type": "object",
            "required": [
                "attack",
                "targeted",
                "bounded",
                "norm",
                "eps",
                "median_distance",
                "estimator",
                "num_attacked",
                "num_analyzed",
                "success_rate",
                "image_type_shares",
                "group_energy_shares",
                "mean_psr",
                "promotion_fraction",
                "median_psr",
                "clamped_images",
                "records",
            ],
            "properties": {
                "num_attacked": {"type": "integer", "minimum": 0},
                "num_analyzed": {"type": "integer", "minimum": 0},
                "success_rate": {"$ref": "#/$defs/share"},
                "image_type_shares": {"$ref": "#/$defs/category_shares"},
                "group_energy_shares": {"$ref": "#/$defs/category_shares"},
                "records": {
                    "type": "object",
                    "required": ["index", "image_type"],
                    "additionalProperties": {"type": "array"},
                },
            },
        },
        "ground_truth": {
            "type": "object",
            "required": ["attack", "num_images", "specificity"],
            "properties": {"num_images": {"type": "integer", "minimum": 1}},
        },
        "types_finding": {
            "type": "object",
            "required": ["claim", "shares", "n", "min_n", "min_share", "types_present", "types_absent", "verdict"],
            "properties": {
                "verdict": {"$ref": "#/$defs/verdict"},
                "min_share": {"type": "number", "minimum": 0, "maximum": 1},
                "types_present": {"type": "integer", "minimum": 0, "maximum": 3},
                "types_absent": {"type": "integer", "minimum": 0, "maximum": 3},
                "shares": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["value", "count", "ci95", "presence"],
                        "properties": {"presence": {"enum": ["present", "absent", "undetermined"]}},
                    },
                },
            },
        },
    },
}

# The comparison columns (``Section.comparison_columns``): the chosen attack's image-type shares,
# group-energy shares and promotion fraction.
COMPARISON_COLUMNS = {
    "pse_suppression_share": Column("PSE supp. images", "share of suppression-dominated images"),
    "pse_promotion_share": Column("PSE prom. images", "share of promotion-dominated images"),
    "pse_balanced_share": Column("PSE bal. images", "share of balanced images"),
    "pse_suppression_energy": Column("supp. energy", "mean energy share of suppression-dominated groups"),
    "pse_promotion_energy": Column("prom. energy", "mean energy share of promotion-dominated groups"),
    "pse_promotion_fraction": Column("P⁺/(P⁺+S⁺)", "mean whole-image P⁺/(P⁺+S⁺) (bounded PSR statistic)"),
}
# The page's tables: report key → column title.
ATTACK_COLUMNS = {
    "name": "attack",
    "radius": "radius",
    "success_rate": "success rate",
    "num_analyzed": "images",
    "suppression_images": "suppression images",
    "promotion_images": "promotion images",
    "balanced_images": "balanced images",
    "suppression_energy": "suppression energy",
    "promotion_energy": "promotion energy",
    "balanced_energy": "balanced energy",
    "promotion_fraction": "P⁺/(P⁺+S⁺)",
    "median_psr": "median PSR (unclamped)",
    "clamped_images": "clamped PSR",
}
GROUND_TRUTH_COLUMNS = {
    "suppression_on_object": "suppression on object",
    "promotion_on_distractor": "promotion on distractor",
    "promotion_on_object": "promotion on object",
    "suppression_on_distractor": "suppression on distractor",
    "num_images": "images",
}
TYPES = {"suppression": Category.SUPPRESSION, "promotion": Category.PROMOTION, "balanced": Category.BALANCED}
# Our choice: a perturbation type counts as present when at least 1 image in 20 is of that type
# (its share's Wilson lower bound ≥ 5 %), absent when its upper bound is below that.
MIN_TYPE_SHARE = 0.05


class PSESection(Section):
    """Per attack ``name``, on the correctly classified probe samples:

    report ``pse.attacks.<name>``: ``num_attacked``, ``num_analyzed`` (fooled), ``success_rate``,
    ``image_type_shares`` and ``group_energy_shares`` (suppression / promotion / balanced; ``None``
    when nothing was fooled), ``mean_psr``, the attack's ``bounded``, ``norm`` and ``eps`` and the
    ``median_distance`` of its perturbations in its norm (the findings judge only attacks inside the
    threat model); and ``pse.ground_truth`` when the data carry
    ``object_mask`` and ``distractor_mask`` (targeted ``presets.ground_truth`` toward the
    distractor's class: how much more of each category lies on the object / distractor than chance).
    Logged per epoch: ``pse/<name>/{suppression,promotion,balanced}_{share,energy}``,
    ``pse/<name>/mean_psr``, ``pse/<name>/success_rate``.

    Args:
        attacks: name → attack (default ``presets.pse_attacks()``; ``analyze.py`` makes them at its radius).
        settings: the ``pse.analyze`` settings (``PSESettings``).
        ground_truth: measure the ground-truth block when the data carry masks.
        num_examples: images kept per attack for the figures.
        seed: seed of the ground-truth attack.
    """

    name = "pse"
    sees_gathered_images = True
    report_schema = REPORT_SCHEMA
    comparison_columns = COMPARISON_COLUMNS

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        settings: PSESettings = DEFAULT_PSE,
        ground_truth: bool = True,
        num_examples: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.attacks = attacks if attacks is not None else presets.pse_attacks(seed=seed)
        self.settings = settings
        self.ground_truth = ground_truth
        self.num_examples = num_examples
        self.truth_attack = presets.ground_truth(seed)
        self.shares = {name: self.add_metric(PSEShares()) for name in self.attacks}
        self.attacked = {name: self.add_metric(SumMetric()) for name in self.attacks}
        self.fooled = {name: self.add_metric(SumMetric()) for name in self.attacks}
        self.records = {name: self.add_metric(Records(RECORD_COLUMNS)) for name in self.attacks}
        self.truth = self.add_metric(Records(TRUTH_COLUMNS))  # pixel counts per fooled image
        self.examples: dict[str, list[Tensor]] = {}

    def check(self, x: Tensor) -> None:
        """The pixel groups fit images like ``x`` ``[1, C, H, W]``."""
        check_group_layout(x, self.settings.group_size, self.settings.stride)

    def clear_examples(self) -> None:
        self.examples = {name: [] for name in self.attacks}

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        correct = runs.batch
        if not len(correct):
            return
        for name, attack in self.attacks.items():
            attacked, pse = runs.pse(attack, self.settings)
            won = attacked.success
            self.attacked[name].update(float(len(correct)))
            self.fooled[name].update(float(won.sum()))
            if pse is None:
                continue
            self.shares[name].update(pse)
            self.records[name].update(
                correct.index[won],
                label=correct.y[won],
                target=attacked.aim[won],
                image_type=pse.image_type,
                image_psr=pse.image_psr,
                image_promotion=pse.image_promotion,
                image_suppression=pse.image_suppression,
                suppression_energy=pse.shares[:, Category.SUPPRESSION],
                promotion_energy=pse.shares[:, Category.PROMOTION],
                balanced_energy=pse.shares[:, Category.BALANCED],
                distance={"linf": attacked.linf, "l2": attacked.l2, "l1": attacked.l1}[attack.norm][won],
            )
            room = self.num_examples - sum(len(rows) for rows in self.examples[name])
            if self.keep_examples and room > 0:
                x, x_adv = correct.x[won][:room], attacked.x_adv[won][:room]
                overlay = category_overlay(x, pse.to_pixels(pse.category)[:room], CATEGORY_COLORS)
                self.examples[name].append(torch.cat([as_rgb(x), as_rgb(x_adv), overlay], dim=3).cpu())
        if self.ground_truth and {"object_mask", "distractor_mask"} <= set(correct.extras):
            self._ground_truth(model, correct)

    def _ground_truth(self, model: nn.Module, batch: ProbeBatch) -> None:
        """Targeted PGD toward the distractor's class; pixel counts of the categories in each region."""
        target = batch.extras["distractor_label"].long()
        result = self.truth_attack.run(model, batch.x, batch.y, target)
        won = result.success
        if not won.any():
            return
        pse = analyze(model, batch.x[won], result.x_adv[won], batch.y[won], target[won], **self.settings.kwargs())
        counts = truth_counts(
            pse.category_mask(Category.SUPPRESSION),
            pse.category_mask(Category.PROMOTION),
            batch.extras["object_mask"][won],
            batch.extras["distractor_mask"][won],
        )
        self.truth.update(batch.index[won], **counts)

    def compute(self, model: nn.Module | None = None, rank: int = 0, world_size: int = 1) -> dict:
        attacks = {}
        for name, attack in self.attacks.items():
            attacked, fooled = int(self.attacked[name].compute()), int(self.fooled[name].compute())
            values = self.shares[name].compute() if fooled else None
            records = {key: value.tolist() for key, value in self.records[name].table().items()}
            attacks[name] = {
                "attack": type(attack).__name__,
                "targeted": bool(attack.targeted),
                **attack_radius_entry(attack),
                "median_distance": median_or_none(records["distance"]),
                "describe": attack.describe(),
                "estimator": self.settings.estimator,
                "num_attacked": attacked,
                "num_analyzed": fooled,
                "success_rate": fooled / attacked if attacked else None,
                "image_type_shares": {c: _item(values, f"{c}_share") for c in CATEGORIES},
                "group_energy_shares": {c: _item(values, f"{c}_energy") for c in CATEGORIES},
                "mean_psr": _item(values, "mean_psr"),
                "promotion_fraction": _item(values, "promotion_fraction"),
                "median_psr": unclamped_median_psr(records),
                "clamped_images": _item(values, "clamped_share"),
                "records": records,
            }
        out: dict = {"attacks": attacks}
        truth = self.truth.table()
        if len(truth["index"]):
            out["ground_truth"] = {
                "attack": f"{self.truth_attack.describe()}, target = the distractor's class",
                **truth_summary(truth),
            }
        return {"pse": out}

    def scalars(self, report: dict) -> dict[str, float]:
        out = {}
        for name in self.attacks:
            entry = report["pse"]["attacks"][name]
            for c in CATEGORIES:
                out[f"pse/{name}/{c}_share"] = nan_if_none(entry["image_type_shares"][c])
                out[f"pse/{name}/{c}_energy"] = nan_if_none(entry["group_energy_shares"][c])
            out[f"pse/{name}/mean_psr"] = nan_if_none(entry["mean_psr"])
            out[f"pse/{name}/promotion_fraction"] = nan_if_none(entry["promotion_fraction"])
            out[f"pse/{name}/success_rate"] = nan_if_none(entry["success_rate"])
        return out

    def image_psrs(self, report: dict) -> dict[str, Tensor]:
        return {name: torch.tensor(report["pse"]["attacks"][name]["records"]["image_psr"]) for name in self.attacks}

    def figures(self, report: dict) -> dict[str, object]:
        out = {
            "psr_histogram": lambda: figures.psr_histogram(self.image_psrs(report)),
            "category_shares": lambda: figures.category_shares(report["pse"]["attacks"]),
        }
        for name, rows in self.examples.items():
            if rows:
                out[f"examples/{name}"] = lambda rows=rows: figures.image_grid(torch.cat(rows))
        return out

    def tables(self, report: dict) -> dict[str, tuple[list[str], list[list]]]:
        out = {}
        for name in self.attacks:
            records = report["pse"]["attacks"][name]["records"]
            rows = [
                [int(i), int(label), int(target), Category(int(kind)).name.lower(), *rest]
                for i, label, target, kind, *rest in zip(*(records[c] for c in ("index", *RECORD_COLUMNS)))
            ]
            if rows:
                out[f"{name}/images"] = (["probe_index", *RECORD_COLUMNS], rows)
        return out

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The PSE block of report.html."""
        parts = []
        pse = report["pse"]
        rows = [
            {
                **r,
                "name": name,
                "radius": radius_text(r),
                **{f"{c}_images": r["image_type_shares"][c] for c in CATEGORIES},
                **{f"{c}_energy": r["group_energy_shares"][c] for c in CATEGORIES},
            }
            for name, r in pse["attacks"].items()
        ]
        parts.append("<h2>Promotion and suppression (PSE)</h2>")
        parts.append(keyed_table(ATTACK_COLUMNS, rows))
        parts.append(
            '<p class="small">Whole-image PSR = log2(P/S) is clamped at ε = 1e-12 where one effect is ≤ 0 '
            "(±40 there), so its mean says little: the table gives the bounded promotion fraction "
            "P⁺/(P⁺+S⁺) (½ balanced), the median PSR over unclamped images and the share of clamped ones.</p>"
        )
        for key in ("psr_histogram", "category_shares"):
            if key in figures:
                parts.append(img(figures[key], key))
        for key, png in figures.items():
            if key.startswith("examples/"):
                parts.append(
                    f"<h3>{html.escape(key[9:])}: clean · adversarial · categories "
                    f"(red promotion, blue suppression, grey balanced)</h3>" + img(png, key)
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
            parts.append(keyed_table(GROUND_TRUTH_COLUMNS, [gt]))
        return parts

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        """The terminal's PSE lines: each attack's fooled images and image-type shares."""
        lines = []
        for name, pse in report["pse"]["attacks"].items():
            if pse["num_analyzed"]:
                shares = ", ".join(f"{k} {v:.2f}" for k, v in pse["image_type_shares"].items())
                lines.append(f"PSE {name}: {pse['num_analyzed']} fooled images; {shares}")
        return lines

    @classmethod
    def findings(cls, report: dict, threat: tuple[str, float] | None) -> dict:
        """Finding (i), the image types (``perturbation_types``), and on data with object masks the
        ground truth's specificity (``ground_truth_specificity``)."""
        if "pse" not in report:
            return {}
        out = {"perturbation_types": perturbation_types(report["pse"], threat=threat)}
        if "ground_truth" in report["pse"]:
            out["ground_truth_specificity"] = ground_truth_specificity(report["pse"]["ground_truth"])
        return out

    @classmethod
    def finding_rows(cls, findings: dict) -> list[list]:
        """(i)'s rows (the three shares with their intervals and presence in the effect's cell), then
        the ground truth's."""
        rows = []
        for attack, entry in findings.get("perturbation_types", {}).items():
            if entry["n"]:
                shares = (
                    ", ".join(
                        f"{label} {fmt(s['value'])} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}] {s['presence']}"
                        for label, s in entry["shares"].items()
                    )
                    + f" (a type is present when its lower bound ≥ {entry['min_share']:g})"
                )
                claim = f"(i) {entry['claim']} ({attack})"
                rows.append([claim, shares, "—", entry["n"], entry["min_n"], verdict_text(entry)])
        rows.extend(
            finding_row(f"ground truth: {f['claim']} (ratio; 1 = none)", f)
            for f in findings.get("ground_truth_specificity", {}).values()
        )
        return rows

    @classmethod
    def notes(cls, report: dict) -> list[str]:
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
                f"No attack fooled any of the {attacked} correctly classified probe samples: the model held on "
                "every one, so the PSE and CAM findings have nothing to analyse."
            ]
        return [
            f"{name} fooled none of the {attacks[name]['num_attacked']} correctly classified probe samples: its "
            "PSE and CAM findings have nothing to analyse."
            for name in idle
        ]

    @classmethod
    def comparison(cls, report: dict, attack: str | None) -> dict[str, Cell]:
        """``attack``'s shares, each resting on its fooled images (finding (i)'s minimum); the
        image-type shares with their Wilson intervals."""
        entry = ((report.get("pse") or {}).get("attacks") or {}).get(attack) or {}
        n = int(entry.get("num_analyzed", 0))
        types, energy = entry.get("image_type_shares", {}), entry.get("group_energy_shares", {})

        def share(value: float | None) -> Cell:
            interval = list(wilson_interval(round(value * n), n)) if value is not None and n else None
            return Cell(value, n, MIN_FOOLED_IMAGES, interval)

        return {
            "pse_suppression_share": share(types.get("suppression")),
            "pse_promotion_share": share(types.get("promotion")),
            "pse_balanced_share": share(types.get("balanced")),
            "pse_suppression_energy": Cell(energy.get("suppression"), n, MIN_FOOLED_IMAGES),
            "pse_promotion_energy": Cell(energy.get("promotion"), n, MIN_FOOLED_IMAGES),
            "pse_promotion_fraction": Cell(entry.get("promotion_fraction"), n, MIN_FOOLED_IMAGES),
        }

    @classmethod
    def bounded_fooled(cls, report: dict) -> dict[str, int]:
        return {
            name: int(entry["num_analyzed"])
            for name, entry in ((report.get("pse") or {}).get("attacks") or {}).items()
            if entry.get("bounded")
        }


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
        finding = judged(
            claim,
            entry["value"],
            [log(b) for b in entry["ci95"]],
            entry["n"],
            [requirement(entry["n"], MIN_FOOLED_IMAGES, "fooled images")],
        )
        finding["ci95"] = entry["ci95"]  # reported as the ratio (1 = no preference)
        out[key] = finding
    return out


def unclamped_median_psr(records: dict[str, list]) -> float | None:
    """Median whole-image PSR over the images where neither effect hit the clamp (``P, S > ε``);
    None when there is none."""
    psr = torch.tensor(records["image_psr"], dtype=torch.float64)
    keep = ~clamped(torch.tensor(records["image_promotion"]), torch.tensor(records["image_suppression"]))
    return float(psr[keep].quantile(0.5)) if keep.any() else None


def _item(values: dict | None, key: str) -> float | None:
    return None if values is None else float(values[key])


def median_or_none(values: list[float]) -> float | None:
    """The median of a record column (the lower middle value for an even count); None when empty."""
    return float(torch.tensor(values, dtype=torch.float64).median()) if values else None


def radius_text(entry: dict) -> str:
    """Where an attack acts: ``linf ε 0.1``, or ``unbounded (outside the threat model; median l2
    distance 0.83)`` for an attack such as C&W, whose rows the findings do not judge."""
    if entry.get("bounded", True):
        return f"{entry.get('norm')} ε {entry['eps']:g}" if entry.get("eps") is not None else "bounded"
    median = entry.get("median_distance")
    distance = f"; median {entry.get('norm')} distance {median:.3g}" if median is not None else ""
    return f"unbounded (outside the threat model{distance})"
