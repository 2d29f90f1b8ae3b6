"""The CAM section: CAM agreement of the PSE categories per attack (``docs/method.md`` §2),
optionally the CAM-guided attack, and CAM localisation on data with object masks."""

from __future__ import annotations

import html

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, SumMetric

from ..attacks import Attack, presets
from ..cam import cam_agreement, cam_guided_attack, cam_method, localization, saliency_agreement
from ..cam.settings import DEFAULT_CAM, CAMSettings
from ..groups import check_group_layout
from ..output import figures
from ..output.html import fmt, gain_text, img, keyed_table
from ..output.images import heat_overlay
from ..pse import DEFAULT_PSE, PSESettings
from ..stats import OUTSIDE, bootstrap_interval
from .base import AttackRuns, Cell, Column, ProbeBatch, Section, attack_radius_entry, item_or_none, nan_if_none
from .records import Records
from .verdicts import MIN_FOOLED_IMAGES, finding_row, judged, outside, requirement, within_threat_model

# The CAM table's columns: report key → title (the gains are formatted with their interval and n).
AGREEMENT_TITLES = {
    "agreement_suppression_true": "IS suppression vs true-class region",
    "baseline_suppression_true": "random region",
    "other_suppression_true": "third class's region",
    "agreement_promotion_target": "IS promotion vs target-class region",
    "baseline_promotion_target": "random region",
    "other_promotion_target": "third class's region",
    "cam_shift": "CAM shift (IoU)",
    "asm_interpretability": "IS of δ vs its ASM region (top 20 %)",
}
AGREEMENT_KEYS = tuple(AGREEMENT_TITLES)  # the per-image scores recorded
GAIN_TITLES = {
    "gain_suppression_true": "suppression gain over random [95 %] (n)",
    "gain_suppression_true_over_other": "suppression gain over third class [95 %] (n)",
    "gain_promotion_target": "promotion gain over random [95 %] (n)",
    "gain_promotion_target_over_other": "promotion gain over third class [95 %] (n)",
}
GUIDED_TITLES = {  # the CAM-guided attack's table
    "name": "attack",
    "full_success": "success",
    "guided_success": "guided success",
    "full_l0": "ℓ0",
    "guided_l0": "guided ℓ0",
    "full_l2": "ℓ2",
    "guided_l2": "guided ℓ2",
    "full_linf": "ℓ∞",
    "guided_linf": "guided ℓ∞",
}
GUIDED_KEYS = tuple(key for key in GUIDED_TITLES if key != "name")  # the per-attack means recorded


def agreement_summary(rows: dict[str, Tensor], seed: int = 0) -> dict:
    """The report entry of one attack from its per-image scores ``rows`` (``AGREEMENT_KEYS`` columns
    ``[N]``, NaN where undefined): each key's mean over the images where it is defined, and for
    suppression on the true class and promotion on the target class the gain over each baseline,
    ``{mean, ci95, n}`` (paired bootstrap over images, 2000 resamples, seeded): ``gain_<part>`` over
    the random region, ``gain_<part>_over_other`` over the third class's region."""
    out: dict = {key: nan_mean(rows[key]) for key in AGREEMENT_KEYS}
    for kind, region in (("suppression", "true"), ("promotion", "target")):
        agreement = rows[f"agreement_{kind}_{region}"]
        out[f"gain_{kind}_{region}"] = paired_gain(agreement, rows[f"baseline_{kind}_{region}"], seed)
        out[f"gain_{kind}_{region}_over_other"] = paired_gain(agreement, rows[f"other_{kind}_{region}"], seed)
    return out


def paired_gain(agreement: Tensor, baseline: Tensor, seed: int = 0) -> dict:
    """``{mean, ci95, n}`` of ``agreement − baseline`` ``[N]`` over the images where both are defined
    (percentile bootstrap of the mean, 2000 resamples, seeded)."""
    gain = (agreement - baseline)[~(agreement.isnan() | baseline.isnan())]
    return {
        "mean": float(gain.mean()) if len(gain) else None,
        "ci95": bootstrap_interval(lambda c: float(c["gain"].mean()), {"gain": gain}, seed=seed),
        "n": len(gain),
    }


def nan_mean(values: Tensor) -> float | None:
    """Mean over the non-NaN entries; None when there is none."""
    kept = values[~values.isnan()]
    return float(kept.mean()) if len(kept) else None


# The report keys the section writes and its findings (``Section.report_schema``).
REPORT_SCHEMA: dict = {
    "properties": {
        "cam": {
            "type": "object",
            "required": ["attacks", "method", "layer"],
            "additionalProperties": False,
            "properties": {
                "attacks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/cam_attack"}},
                "method": {"enum": ["cam", "grad_cam", "grad_cam_pp"]},
                "layer": {"type": "string"},
                "localization_iou": {"type": ["number", "null"]},
                "pointing_game": {"type": ["number", "null"]},
            },
        }
    },
    "findings": {
        "cam_regions": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["suppression_on_true_region", "promotion_on_target_region"],
                "additionalProperties": {"$ref": "#/$defs/finding"},
            },
        }
    },
    "$defs": {
        "gain": {
            "type": "object",
            "required": ["mean", "ci95", "n"],
            "additionalProperties": False,
            "properties": {
                "mean": {"type": ["number", "null"]},
                "ci95": {"$ref": "#/$defs/interval"},
                "n": {"type": "integer", "minimum": 0},
            },
        },
        "cam_attack": {
            "type": "object",
            "required": [
                "bounded",
                "norm",
                "eps",
                "agreement_suppression_true",
                "baseline_suppression_true",
                "agreement_promotion_target",
                "baseline_promotion_target",
                "cam_shift",
                "asm_interpretability",
                "other_suppression_true",
                "other_promotion_target",
                "gain_suppression_true",
                "gain_promotion_target",
                "gain_suppression_true_over_other",
                "gain_promotion_target_over_other",
            ],
            "properties": {
                "gain_suppression_true": {"$ref": "#/$defs/gain"},
                "gain_promotion_target": {"$ref": "#/$defs/gain"},
                "gain_suppression_true_over_other": {"$ref": "#/$defs/gain"},
                "gain_promotion_target_over_other": {"$ref": "#/$defs/gain"},
            },
        },
    },
}

# The comparison columns (``Section.comparison_columns``) → the gain each reads ({mean, ci95, n}).
COMPARED_GAINS = {
    "cam_suppression_gain": "gain_suppression_true",
    "cam_promotion_gain": "gain_promotion_target",
    "cam_suppression_gain_other": "gain_suppression_true_over_other",
    "cam_promotion_gain_other": "gain_promotion_target_over_other",
}
COMPARISON_COLUMNS = {
    "cam_suppression_gain": Column(
        "CAM supp. − random", "CAM agreement − random region, suppression on the true class"
    ),
    "cam_promotion_gain": Column("CAM prom. − random", "CAM agreement − random region, promotion on the target class"),
    "cam_suppression_gain_other": Column(
        "CAM supp. − third class", "CAM agreement − third class's region, suppression on the true class"
    ),
    "cam_promotion_gain_other": Column(
        "CAM prom. − third class", "CAM agreement − third class's region, promotion on the target class"
    ),
    "cam_shift": Column("CAM shift", "CAM shift: IoU of the true-class CAM region on x and on x′"),
}


class CAMSection(Section):
    """Per attack ``name``, on the correctly classified probe samples it fools: the means of
    ``cam.cam_agreement``'s scores and of ``asm_interpretability`` (``cam.saliency_agreement``:
    StrAttack's interpretability score of δ against its adversarial saliency map's top 20 %) over
    the images where they are defined (report ``cam.attacks.<name>``, logged ``cam/<name>/<score>``); with
    ``guided``, the attack restricted to the union of the true- and target-class regions beside the
    full one (``cam.attacks.<name>.cam_guided``: success rates and the mean ℓ0/ℓ2/ℓ∞ of the successful
    examples). When the data carry ``object_mask``:
    ``cam.localization_iou`` and ``cam.pointing_game`` of the true-class map on the clean samples
    (logged ``cam/localization_iou``, ``cam/pointing_game``).

    Args:
        attacks: name → attack (default ``presets.cam_attacks()``, equal to the PSE section's ``pgd``:
            the two share one attack run per batch).
        cam: the CAM method, its layer (None: the feature layer), the region threshold (region =
            map ≥ threshold·max) and the random regions per baseline (``CAMSettings``).
        pse: the PSE analysis behind the categories (``PSESettings``).
        guided: also run the CAM-guided attack (one more attack run per batch and attack).
        num_examples: image pairs kept for the figure (clean with the true-class map, adversarial
            with the target-class map, for the first attack).
        seed: seed of the random baseline regions.
    """

    name = "cam"
    sees_gathered_images = True
    report_schema = REPORT_SCHEMA
    comparison_columns = COMPARISON_COLUMNS

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        cam: CAMSettings = DEFAULT_CAM,
        pse: PSESettings = DEFAULT_PSE,
        guided: bool = False,
        num_examples: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.attacks = attacks if attacks is not None else presets.cam_attacks(seed=seed)
        self.cam = {"method": cam.method, "layer": cam.layer, "threshold": cam.threshold}
        self.draws, self.guided, self.num_examples, self.seed = cam.draws, guided, num_examples, seed
        self.settings = pse
        # Per fooled image (NaN where a score is undefined, e.g. no suppression-dominated part).
        self.scores = {name: self.add_metric(Records(AGREEMENT_KEYS)) for name in self.attacks}
        self.guided_scores = (
            {
                name: {key: self.add_metric(MeanMetric(nan_strategy="ignore")) for key in GUIDED_KEYS}
                for name in self.attacks
            }
            if guided
            else {}
        )
        self.localization = {
            key: self.add_metric(MeanMetric(nan_strategy="ignore")) for key in ("localization_iou", "pointing_game")
        }
        self.localized = self.add_metric(SumMetric())  # images with object masks (none: no localisation keys)
        self.examples: list[Tensor] = []

    def check(self, model: nn.Module, x: Tensor) -> None:
        """The CAM method takes the model at its layer (one map), and the PSE groups fit the images."""
        cam_method(self.cam["method"])(model, x, torch.zeros(1, dtype=torch.long, device=x.device), self.cam["layer"])
        check_group_layout(x, self.settings.group_size, self.settings.stride)

    def clear_examples(self) -> None:
        self.examples = []

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        correct = runs.batch
        if not len(correct):
            return
        if "object_mask" in correct.extras:
            overlap, hit = localization(model, correct.x, correct.y, correct.extras["object_mask"], **self.cam)
            self.localization["localization_iou"].update(overlap)
            self.localization["pointing_game"].update(hit.float())
            self.localized.update(float(len(correct)))
        for position, (name, attack) in enumerate(self.attacks.items()):
            attacked, pse = runs.pse(attack, self.settings)
            if self.guided:
                self._guided(name, attack, model, correct, attacked)
            if pse is None:
                continue
            won = attacked.success
            x, x_adv, y, aim = correct.x[won], attacked.x_adv[won], correct.y[won], attacked.aim[won]
            scores = cam_agreement(model, x, x_adv, y, aim, pse, **self.cam, draws=self.draws, seed=self.seed)
            self.scores[name].update(
                correct.index[won],
                asm_interpretability=saliency_agreement(model, x, x_adv, y, aim),
                **{key: getattr(scores, key) for key in AGREEMENT_KEYS if key != "asm_interpretability"},
            )
            room = self.num_examples - len(self.examples)
            if self.keep_examples and position == 0 and room > 0:
                method = cam_method(self.cam["method"])
                true_map = method(model, x[:room], y[:room], self.cam["layer"])
                target_map = method(model, x_adv[:room], aim[:room], self.cam["layer"])
                self.examples.extend(
                    torch.cat([heat_overlay(x[:room], true_map), heat_overlay(x_adv[:room], target_map)], dim=3).cpu()
                )

    def _guided(self, name: str, attack: Attack, model: nn.Module, batch: ProbeBatch, full) -> None:
        guided = cam_guided_attack(attack, model, batch.x, batch.y, **self.cam, full=full)
        for run, result in (("full", guided.full), ("guided", guided.guided)):
            self.guided_scores[name][f"{run}_success"].update(result.success.float())
            for key in ("l0", "l2", "linf"):  # distortion of the successful examples
                values = getattr(result, key).float()
                self.guided_scores[name][f"{run}_{key}"].update(torch.where(result.success, values, torch.nan))

    def compute(self, model: nn.Module | None = None, rank: int = 0, world_size: int = 1) -> dict:
        attacks = {
            name: {**attack_radius_entry(self.attacks[name]), **agreement_summary(records.table())}
            for name, records in self.scores.items()
        }
        for name, per_attack in self.guided_scores.items():
            attacks[name]["cam_guided"] = {key: item_or_none(metric.compute()) for key, metric in per_attack.items()}
        out: dict = {"attacks": attacks}
        if float(self.localized.compute()) > 0:
            out.update({key: item_or_none(metric.compute()) for key, metric in self.localization.items()})
        out.update({"method": self.cam["method"], "layer": self.cam["layer"] or "feature layer"})
        return {"cam": out}

    def scalars(self, report: dict) -> dict[str, float]:
        cam = report["cam"]
        out = {f"cam/{key}": nan_if_none(cam[key]) for key in ("localization_iou", "pointing_game") if key in cam}
        for name in self.attacks:
            out.update({f"cam/{name}/{key}": nan_if_none(cam["attacks"][name][key]) for key in AGREEMENT_KEYS})
        return out

    def figures(self, report: dict) -> dict[str, object]:
        if not self.examples:
            return {}
        return {"cam_overlays": lambda: figures.image_grid(torch.stack(self.examples))}

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The CAM block of report.html."""
        parts = []
        cam = report["cam"]
        rows = [
            {**r, "name": name, **{key: gain_text(r[key]) for key in GAIN_TITLES}} for name, r in cam["attacks"].items()
        ]
        parts.append(
            f"<h2>Where the perturbation acts (CAM)</h2><p>Regions from {html.escape(str(cam.get('method')))}"
            f" at {html.escape(str(cam.get('layer')))}.</p>"
        )
        parts.append(keyed_table({"name": "attack", **AGREEMENT_TITLES, **GAIN_TITLES}, rows))
        parts.append(
            '<p class="small">Each column is a mean over the fooled images where it is defined; a gain is the '
            "mean of agreement − baseline over the images where both are defined, with a paired bootstrap "
            "interval. The third class (neither true nor target: the runner-up on the clean image) has its region "
            "on the object too, so a gain over it says the part sits on that class's region, not just on the "
            "object; finding (ii) is judged on it.</p>"
        )
        rows = [{**r["cam_guided"], "name": name} for name, r in cam["attacks"].items() if "cam_guided" in r]
        parts.append("<h3>CAM-guided attacks (support = true- ∪ target-class region)</h3>")
        parts.append(keyed_table(GUIDED_TITLES, rows))
        if "localization_iou" in cam:
            parts.append(
                f"<p>True-class region vs object mask: IoU {fmt(cam['localization_iou'])}, pointing game "
                f"{fmt(cam['pointing_game'])}.</p>"
            )
        if "cam_overlays" in figures:
            parts.append("<h3>True-class maps on clean images</h3>" + img(figures["cam_overlays"], "cam"))
        return parts

    @classmethod
    def findings(cls, report: dict, threat: tuple[str, float] | None) -> dict:
        """Finding (ii) (``cam_regions``)."""
        return {"cam_regions": cam_regions(report["cam"], threat)} if "cam" in report else {}

    @classmethod
    def finding_rows(cls, findings: dict) -> list[list]:
        return [
            finding_row(f"(ii) {f['claim']} ({attack})", f)
            for attack, entry in findings.get("cam_regions", {}).items()
            for f in entry.values()
            if f["n"]
        ]

    @classmethod
    def comparison(cls, report: dict, attack: str | None) -> dict[str, Cell]:
        """``attack``'s gains with their bootstrap intervals, each resting on its images with the
        part; the CAM shift on the attack's fooled images (the PSE section's count: the CAM section
        scores the images the PSE section explains)."""
        entry = ((report.get("cam") or {}).get("attacks") or {}).get(attack) or {}
        fooled = int((((report.get("pse") or {}).get("attacks") or {}).get(attack) or {}).get("num_analyzed", 0))
        out = {}
        for column, key in COMPARED_GAINS.items():
            gain = entry.get(key) or {}
            out[column] = Cell(gain.get("mean"), gain.get("n", 0), MIN_FOOLED_IMAGES, gain.get("ci95"))
        out["cam_shift"] = Cell(entry.get("cam_shift"), fooled, MIN_FOOLED_IMAGES)
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
            finding = judged(
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
