"""The network sections (``docs/method.md`` §3): Network Dissection of a layer beside each unit's
sensitivity to an attack (``DissectionSection``), and the neuron-masking curve (``MaskingSection``)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics import SumMetric

from ..attacks import Attack, presets
from ..data import private_generator, shard_batches
from ..dissect import (
    DEFAULT_DISSECTION,
    MASK_FRACTIONS,
    DissectionResult,
    DissectionSettings,
    add_sensitivity,
    attack_sensitivity,
    compare_sensitivity,
    concept_source,
    describe_concepts,
    dissect,
    dissection_summary,
    label_stability,
    masking_curve,
)
from ..models.capture import resolve_layer
from ..output import figures
from ..output.html import fmt, img, keyed_table, table
from ..pse import UnitSensitivity
from ..stats import spearman_interval, wilson_interval
from .base import AttackRuns, Cell, Column, ProbeBatch, Section
from .verdicts import MIN_PROBE_IMAGES, MIN_TOP_K, MIN_UNITS, finding_row, judged, requirement

LOGGED = (
    "interpretable_units",
    "spearman_sensitivity_iou",
    "topk_detector_share",
    "bottomk_detector_share",
    "randomk_detector_share",
    "topk_mean_iou",
    "bottomk_mean_iou",
    "randomk_mean_iou",
)


# The report keys each section writes and its findings (``Section.report_schema``).
DISSECTION_SCHEMA: dict = {
    "properties": {"dissection": {"$ref": "#/$defs/dissection"}},
    "findings": {
        "sensitive_units": {
            "type": "object",
            "required": ["sensitivity_iou_correlation", "top_sensitive_are_detectors"],
            "additionalProperties": {"$ref": "#/$defs/finding"},
        }
    },
    "$defs": {
        "stability": {
            "type": "object",
            "required": [
                "num_units",
                "detectors",
                "stable_detectors",
                "stable_unit_share",
                "stable_detector_share",
                "min_agreement",
                "draws",
                "topk_detector_share",
                "randomk_detector_share",
            ],
            "properties": {
                "draws": {"type": "integer", "minimum": 1},
                "stable_detectors": {"type": "integer", "minimum": 0},
            },
        },
        "dissection": {
            "type": "object",
            "required": [
                "layer",
                "num_units",
                "interpretable_units",
                "num_images",
                "num_probe_images",
                "detectors_per_category",
                "k",
                "spearman_sensitivity_iou",
                "topk_detector_share",
                "bottomk_detector_share",
                "randomk_detector_share",
                "topk_mean_iou",
                "bottomk_mean_iou",
                "randomk_mean_iou",
                "units",
            ],
            "properties": {
                "stability": {"$ref": "#/$defs/stability"},
                "num_units": {"type": "integer", "minimum": 1},
                "num_probe_images": {"type": "integer", "minimum": 0},
                "k": {"type": "integer", "minimum": 1},
                "topk_detector_share": {"$ref": "#/$defs/share"},
                "randomk_detector_share": {"$ref": "#/$defs/share"},
            },
        },
    },
}

MASKING_SCHEMA: dict = {
    "properties": {
        "masking": {
            "type": "array",
            "items": {"type": "object", "required": ["fraction", "num_units", "clean_accuracy", "robust_accuracy"]},
        }
    }
}
# The dissection's comparison columns (``Section.comparison_columns``).
COMPARISON_COLUMNS = {
    "interpretable_units": Column("interpretable units", "interpretable units (IoU > threshold)"),
    "stable_detectors": Column("stable detectors", "detectors with a stable label (when measured)"),
    "spearman_sensitivity_iou": Column("ρ(sensitivity, IoU)", "Spearman ρ of unit sensitivity with best IoU"),
}


class DissectionSection(Section):
    """Dissects ``layer`` on the ``concepts`` probe set and relates each unit's attack sensitivity
    ``s_k`` (measured on the probe batches passed to ``update``) to its best concept IoU.

    Report ``dissection`` (one layer) or ``dissections.<layer>``: ``dissect.dissection_summary``
    (interpretable units, detectors per category, Spearman ρ of ``s_k`` with the best IoU, top-k /
    bottom-k / random-k detector shares), ``num_probe_images`` (the images ``s_k`` is averaged over),
    the concept probe, the attack and one row per unit.
    Logged per epoch: ``dissect/<layer>/<summary key>`` and ``dissect/<layer>/<category>_detectors``.
    Under DDP each rank passes its shard of the concept set and of the probe set; quantiles are taken
    over the gathered activations and IoU and sensitivity sums are added over ranks.

    Args:
        concepts: the concept probe set (``dissect.concept_probe_set``).
        layer: dotted layer name (None: the model's feature layer).
        attack: gives ``s_k`` (default ``presets.sensitivity()``).
        settings: quantile, IoU threshold, the top-k comparison's fraction and ``stability_draws``
            (``DissectionSettings``): when above 0, also each unit's label stability over that many
            bootstrap and pixel-noise draws (``dissect.label_stability``; one process), the
            report's ``stability`` block, whose stable-detector shares the unit findings then use.
        batch_size: concept images per batch.
    """

    name = "dissection"
    report_schema = DISSECTION_SCHEMA
    comparison_columns = COMPARISON_COLUMNS

    def __init__(
        self,
        concepts: Dataset,
        layer: str | None = None,
        attack: Attack | None = None,
        settings: DissectionSettings = DEFAULT_DISSECTION,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.stability_draws, self.seed = settings.stability_draws, seed
        self.concepts, self.layer = concepts, layer
        self.attack = attack if attack is not None else presets.sensitivity(seed=seed)
        self.settings = settings
        self.batch_size = batch_size
        self.probe_images = self.add_metric(SumMetric())  # the images s_k is averaged over
        self.sensitivity: UnitSensitivity | None = None
        self.result: DissectionResult | None = None  # the last dissection
        self.unit_sensitivity: Tensor | None = None  # ``[K]`` of the last compute

    def reset(self, device: torch.device, keep_examples: bool = True) -> None:
        super().reset(device, keep_examples)
        self.sensitivity = None

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        module = resolve_layer(model, self.layer)
        self.sensitivity = add_sensitivity(model, module, self.attack, batch.x, batch.y, self.sensitivity)
        self.probe_images.update(float(len(batch)))

    def compute(self, model: nn.Module, rank: int = 0, world_size: int = 1) -> dict:
        source = concept_source(self.concepts)
        batches = shard_batches(len(self.concepts), self.batch_size, rank, world_size)
        loader = DataLoader(self.concepts, batch_sampler=batches, generator=private_generator())
        self.result = dissect(
            model,
            self.layer,
            loader,
            quantile=self.settings.quantile,
            iou_threshold=self.settings.iou_threshold,
            concept_names=source.concept_names,
            concept_categories=source.concept_categories,
            sync_ranks=world_size > 1,
        )
        if self.sensitivity is None:  # a rank without probe batches: its empty sums join the sync
            self.sensitivity = UnitSensitivity(self.result.thresholds.shape[0]).to(next(model.parameters()).device)
        self.unit_sensitivity = self.sensitivity.compute().cpu()
        summary = dissection_summary(self.result, self.unit_sensitivity, self.settings.top_fraction)
        if self.stability_draws:
            summary["stability"] = self.stability(model)
        return {
            "dissection": {
                **summary,
                "num_probe_images": int(self.probe_images.compute()),
                "concept_probe": describe_concepts(self.concepts),
                "sensitivity_attack": self.attack.describe(),
                "units": self.result.unit_rows(self.unit_sensitivity),
            }
        }

    def stability(self, model: nn.Module) -> dict:
        """The ``stability`` block: ``LabelStability.summary()`` of the layer on the concept probe, and
        the top-k and random-k shares of **stable** detectors (what the unit findings use)."""
        stability = label_stability(
            model,
            self.layer,
            self.concepts,
            draws=self.stability_draws,
            seed=self.seed,
            quantile=self.settings.quantile,
            iou_threshold=self.settings.iou_threshold,
            batch_size=self.batch_size,
            result=self.result,
        )
        shares = compare_sensitivity(
            self.unit_sensitivity, stability.result, self.settings.top_fraction, stability.stable_detectors
        )
        return {
            **stability.summary(),
            "draws": self.stability_draws,
            "topk_detector_share": shares["topk_detector_share"],
            "randomk_detector_share": shares["randomk_detector_share"],
        }

    def scalars(self, report: dict) -> dict[str, float]:
        summary = report["dissection"]
        values = {f"dissect/{summary['layer']}/{key}": summary[key] for key in LOGGED}
        values.update(
            {
                f"dissect/{summary['layer']}/{category}_detectors": counts["units"]
                for category, counts in summary["detectors_per_category"].items()
            }
        )
        return values

    def media_prefix(self, report: dict) -> str:
        return f"dissect/{report['dissection']['layer']}"

    def figures(self, report: dict) -> dict[str, object]:
        result, summary = self.result, report["dissection"]
        return {
            "sensitivity_vs_iou": lambda: figures.sensitivity_scatter(
                self.unit_sensitivity,
                result.best_iou,
                result.detectors,
                summary["spearman_sensitivity_iou"],
                result.layer,
                result.iou_threshold,
            )
        }

    def tables(self, report: dict) -> dict[str, tuple[list[str], list[list]]]:
        columns = ["unit", "concept", "category", "iou", "sensitivity", "detector"]
        return {"units": (columns, [[row[c] for c in columns] for row in report["dissection"]["units"]])}

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The dissection's block of report.html."""
        d = report["dissection"]
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
            f"best IoU: ρ = {fmt(rho)} ({sign}).</p>"
        ]
        parts.append(
            table(
                ["category", "detector units", "concepts detected"],
                [[c, n["units"], n["concepts"]] for c, n in d["detectors_per_category"].items()],
            )
        )
        parts.append(
            table(
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
        if "stability" in d:
            parts.append(f"<p>{html.escape(stability_text(d['stability']))}</p>")
        if "sensitivity_vs_iou" in figures:
            parts.append(img(figures["sensitivity_vs_iou"], "sensitivity vs IoU"))
        return parts

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        """The terminal's dissection line."""
        d = report["dissection"]
        lines = [
            f"dissection {d['layer']}: {d['interpretable_units']}/{d['num_units']} interpretable units, "
            f"Spearman(sensitivity, IoU) = {d['spearman_sensitivity_iou']:.3f} "
            f"(sensitivity over {d['num_probe_images']} probe images)"
        ]
        return lines + ([f"  {stability_text(d['stability'])}"] if "stability" in d else [])

    @classmethod
    def findings(cls, report: dict, threat: tuple[str, float] | None) -> dict:
        """Finding (iii) (``sensitive_units``)."""
        return {"sensitive_units": sensitive_units(report["dissection"])} if "dissection" in report else {}

    @classmethod
    def finding_rows(cls, findings: dict) -> list[list]:
        return [finding_row(f"(iii) {f['claim']}", f) for f in findings.get("sensitive_units", {}).values()]

    @classmethod
    def comparison(cls, report: dict, attack: str | None) -> dict[str, Cell]:
        """The layer's detector count (Wilson interval over its units), stable detectors, and ρ of
        sensitivity with IoU (Fisher interval), which needs its units and its probe images: the
        shortfall that binds is the sample shown."""
        dissection = report.get("dissection") or {}
        units, probe = dissection.get("num_units", 0), dissection.get("num_probe_images", 0)
        detectors, rho = dissection.get("interpretable_units"), dissection.get("spearman_sensitivity_iou")
        rho_sample = (units, MIN_UNITS) if units < MIN_UNITS or probe >= MIN_PROBE_IMAGES else (probe, MIN_PROBE_IMAGES)
        return {
            "interpretable_units": Cell(
                detectors,
                units,
                MIN_UNITS,
                [units * v for v in wilson_interval(int(detectors), units)]
                if detectors is not None and units
                else None,
            ),
            "stable_detectors": Cell((dissection.get("stability") or {}).get("stable_detectors"), units, MIN_UNITS),
            "spearman_sensitivity_iou": Cell(
                rho, *rho_sample, spearman_interval(rho, units) if rho is not None else None
            ),
        }


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
    top = judged(
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
        "sensitivity_iou_correlation": judged(
            "unit sensitivity correlates positively with the unit's best IoU",
            None if math.isnan(rho) else rho,
            spearman_interval(rho, units),
            units,
            [requirement(units, MIN_UNITS, "units"), probe, any_detector],
        ),
        "top_sensitive_are_detectors": top,
    }


def stability_text(stability: dict) -> str:
    """One sentence on the labels' stability: how many detectors kept their label, and the shares."""
    detector_share = stability["stable_detector_share"]
    return (
        f"Label stability over {stability['draws']} bootstrap and {stability['draws']} pixel-noise (σ 0.02) draws: "
        f"{stability['stable_detectors']} of {stability['detectors']} detectors keep their label in at least "
        f"{stability['min_agreement']:.0%} of each"
        + (f" ({detector_share:.0%})" if detector_share is not None else "")
        + f"; {stability['stable_unit_share']:.0%} of all units. The unit findings count stable detectors only."
    )


MASKING_COLUMNS = {  # the masking table: report key → column title
    "masked": "units masked",
    "num_units": "count",
    "clean_accuracy": "clean acc",
    "robust_accuracy": "robust acc",
    "random_clean_accuracy": "clean acc (random)",
    "random_robust_accuracy": "robust acc (random)",
}


class MaskingSection(Section):
    """Clean and robust accuracy as the most attack-sensitive units of ``layer`` are masked, beside
    as many random units (``dissect.masking_curve``). The units are ranked on ``ranking`` (batches
    of another split), so the ranking is not fitted to the probe images it is judged on.

    Report: ``masking`` (one row per fraction), ``masking_attack``, ``masking_ranking``. Single
    process (``analyze.py``): the probe batches are held until ``compute``.
    """

    name = "masking"
    report_schema = MASKING_SCHEMA

    def __init__(
        self,
        ranking: Sequence[tuple[Tensor, Tensor]],
        ranking_label: str,
        layer: str | None = None,
        attack: Attack | None = None,
        fractions: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.ranking, self.ranking_label, self.layer = ranking, ranking_label, layer
        self.attack = attack if attack is not None else presets.sensitivity(seed=seed)
        self.fractions = list(fractions or MASK_FRACTIONS)
        self.seed = seed
        self.batches: list[tuple[Tensor, Tensor]] = []

    def reset(self, device: torch.device, keep_examples: bool = True) -> None:
        super().reset(device, keep_examples)
        self.batches = []

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        self.batches.append((batch.x, batch.y))

    def compute(self, model: nn.Module, rank: int = 0, world_size: int = 1) -> dict:
        ranking = attack_sensitivity(model, self.layer, self.attack, self.ranking).cpu()
        rows = masking_curve(
            model,
            self.layer,
            ranking,
            self.attack,
            self.batches,
            self.fractions,
            seed=self.seed,
        )
        return {"masking": rows, "masking_attack": self.attack.describe(), "masking_ranking": self.ranking_label}

    def figures(self, report: dict) -> dict[str, object]:
        return {"masking_curve": lambda: figures.masking_curve(report["masking"])}

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The masking curve's block of report.html."""
        parts = []
        parts.append(
            "<h2>Neuron masking</h2><p>Clean and robust accuracy (robust: "
            + html.escape(report["masking_attack"])
            + ", run against the masked model) with the most attack-sensitive units of the layer zeroed, "
            "beside as many random units; " + html.escape(report.get("masking_ranking", "")) + ".</p>"
        )
        rows = [{**r, "masked": f"{100 * r['fraction']:g} %"} for r in report["masking"]]
        parts.append(keyed_table(MASKING_COLUMNS, rows))
        if "masking_curve" in figures:
            parts.append(img(figures["masking_curve"], "masking curve"))
        return parts
