"""The dissection and masking sections of a report: the dissection callback's functions
(``dissect``, ``attack_sensitivity``, ``dissection_summary``) and ``masking_curve`` on a
checkpoint's probe set."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..attacks import PGD, Attack
from ..data import unpack_batch
from ..dissect import (
    MASK_FRACTIONS,
    attack_sensitivity,
    concept_probe_set,
    describe_concepts,
    dissect,
    dissection_summary,
    masking_curve,
)
from . import figures


def sensitivity_attack(eps: float, norm: str = "linf", seed: int = 0) -> Attack:
    """The default attack of the sensitivity and masking measurements: PGD-10 at radius ``eps`` of
    ``norm``, step ``eps/4`` (the ``DissectionCallback`` default at ℓ∞ ε = 8/255)."""
    return PGD(eps=eps, steps=10, step_size=eps / 4, norm=norm, seed=seed)


def describe(attack: Attack) -> str:
    """``PGD(ℓ∞ ε=0.0314, 10 steps)``: an attack's class and budget in a few words."""
    budget = [f"{getattr(attack, 'norm', 'linf').replace('linf', 'ℓ∞').replace('l2', 'ℓ2')} ε={attack.eps:.4g}"] \
        if hasattr(attack, "eps") else []
    budget += [f"{attack.steps} steps"] if hasattr(attack, "steps") else []
    return f"{type(attack).__name__}({', '.join(budget)})"


def concepts_for(datamodule, settings: dict, image_size: int, in_channels: int):
    """The concept probe set of the dissection section at the model's input size and channel count
    (built before any attack, so that a missing Broden folder fails first)."""
    return concept_probe_set(datamodule, settings.get("num_concept_images", 256), settings.get("broden_dir"),
                             settings.get("broden_categories"), image_size, in_channels)


def network_report(model: nn.Module, layer: str | None, concepts, batches: list[tuple[Tensor, Tensor]],
                   ranking_batches: list[tuple[Tensor, Tensor]], attack: Attack, settings: dict,
                   sections: list[str], figure_errors: list[str]) -> tuple[dict, dict[str, bytes]]:
    """``({"dissection": ..., "masking": [...]}, figures)`` for the requested ``sections`` on the
    probe ``batches`` (``(x, y)`` on the model's device) at ``layer`` (None: the feature layer);
    ``concepts``: the concept probe set (``concepts_for``); ``attack`` gives ``s_k`` and the robust
    accuracy of the masking curve. The masking curve ranks units on ``ranking_batches`` (another
    split) and evaluates on ``batches``, so the ranking is not fitted to the images it is judged
    on. A figure that fails is a line in ``figure_errors``."""
    report: dict = {}
    figs: dict[str, bytes] = {}
    if "dissection" in sections:
        sensitivity = attack_sensitivity(model, layer, attack, batches).cpu()
        result = dissect(model, layer, DataLoader(concepts, batch_size=64), settings.get("quantile", 0.005),
                         settings.get("iou_threshold", 0.04), progress=True)
        summary = dissection_summary(result, sensitivity, settings.get("top_fraction", 0.1),
                                     settings.get("random_draws", 100))
        report["dissection"] = {**summary, "concept_probe": describe_concepts(concepts),
                                "sensitivity_attack": describe(attack),
                                "units": result.unit_rows(sensitivity)}
        figures.draw(figs, figure_errors, "sensitivity_vs_iou", lambda: figures.sensitivity_scatter(
            sensitivity, result.best_iou, result.detectors, summary["spearman_sensitivity_iou"], result.layer,
            result.iou_threshold))
    if "masking" in sections:
        ranking = attack_sensitivity(model, layer, attack, ranking_batches).cpu()
        rows = masking_curve(model, layer, ranking, attack, batches, settings.get("fractions") or MASK_FRACTIONS,
                             progress=True)
        report["masking"] = rows
        report["masking_attack"] = describe(attack)
        figures.draw(figs, figure_errors, "masking_curve", lambda: figures.masking_curve(rows))
    return report, figs


def probe_batches(loader: DataLoader, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    """The probe loader's ``(x, y)`` batches, on ``device``, held in memory (masking re-reads them)."""
    return [tuple(t.to(device) for t in unpack_batch(batch)) for batch in loader]
