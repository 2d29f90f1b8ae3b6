"""The network sections (``docs/method.md`` §3): Network Dissection of a layer beside each unit's
sensitivity to an attack (``DissectionSection``), and the neuron-masking curve (``MaskingSection``)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics import SumMetric

from ..attacks import Attack, presets
from ..data import private_generator, shard_batches
from ..dissect import (
    DISSECTION,
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
from ..errors import UserInputError
from ..models.capture import resolve_layer
from ..output import figures
from ..output.html import fmt, img, table
from ..pse import UnitSensitivity
from .base import AttackRuns, ProbeBatch, Section

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
        settings: quantile, IoU threshold and the top-k comparison's fraction (``DissectionSettings``).
        batch_size: concept images per batch.
        stability_draws: when above 0, also each unit's label stability over that many bootstrap
            and pixel-noise draws (``dissect.label_stability``; one process): the report's
            ``stability`` block, whose stable-detector shares the unit findings then use.
    """

    name = "dissection"

    def __init__(
        self,
        concepts: Dataset,
        layer: str | None = None,
        attack: Attack | None = None,
        settings: DissectionSettings = DISSECTION,
        batch_size: int = 64,
        seed: int = 0,
        stability_draws: int = 0,
    ) -> None:
        super().__init__()
        if stability_draws < 0:
            raise UserInputError(f"stability_draws must be 0 (off) or a number of draws, got {stability_draws}")
        self.stability_draws, self.seed = stability_draws, seed
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


class MaskingSection(Section):
    """Clean and robust accuracy as the most attack-sensitive units of ``layer`` are masked, beside
    as many random units (``dissect.masking_curve``). The units are ranked on ``ranking`` (batches
    of another split), so the ranking is not fitted to the probe images it is judged on.

    Report: ``masking`` (one row per fraction), ``masking_attack``, ``masking_ranking``. Single
    process (``analyze.py``): the probe batches are held until ``compute``.
    """

    name = "masking"

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
        parts.append(
            table(
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
            parts.append(img(figures["masking_curve"], "masking curve"))
        return parts
