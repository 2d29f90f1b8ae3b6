"""Sensitivity against interpretability (``docs/method.md`` §3): are the units an attack moves most the
ones that detect concepts?

``s_k`` is the unit-level PSE sensitivity (``pse.UnitSensitivity``) under a configurable attack;
it is compared with each unit's best IoU from ``dissect``: the Spearman rank correlation, and the
detector share and mean best IoU of the ``k`` most sensitive units against the ``k`` least
sensitive and against ``k`` random units (``k = max(1, round(top_fraction·K))``; ``top_fraction =
0.1`` is our choice). The random ``k`` are taken at their exact expectation, the layer's detector
share and mean best IoU (any ``k``-subset drawn uniformly has these means), so the table and the
finding compare with one baseline and no sampling noise.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..attacks import Attack
from ..models.capture import resolve_layer
from ..pse import UnitSensitivity, unit_effects
from .result import DissectionResult
from .settings import DEFAULT_DISSECTION


def add_sensitivity(
    model: nn.Module, module: nn.Module, attack: Attack, x: Tensor, y: Tensor, metric: UnitSensitivity | None
) -> UnitSensitivity:
    """Attack ``x`` and add its unit effects at ``module`` to ``metric`` (made, sized by the layer's
    unit count, when None); returns the metric."""
    effects = unit_effects(model, module, x, attack(model, x, y))
    if metric is None:
        metric = UnitSensitivity(effects.clean.shape[0]).to(x.device)
    metric.update(effects)
    return metric


def attack_sensitivity(
    model: nn.Module, layer: nn.Module | str | None, attack: Attack, batches: Iterable[tuple[Tensor, Tensor]]
) -> Tensor:
    """``s_k`` ``[K]`` of ``layer``'s units over ``(x, y)`` batches (on the model's device): every
    image is attacked and ``|ā_k(x') − ā_k(x)|`` averaged over images, over the mean ``ā_k(x)``."""
    module = resolve_layer(model, layer)
    metric = None
    for x, y in batches:
        metric = add_sensitivity(model, module, attack, x, y, metric)
    if metric is None:
        raise ValueError("no batches to measure the unit sensitivity on")
    return metric.compute()


def average_ranks(values: Tensor) -> Tensor:
    """``[N]`` ranks 1..N of ``values`` ``[N]``, ties sharing their average rank."""
    ordered = values.sort().values
    below = torch.searchsorted(ordered, values, right=False)
    up_to = torch.searchsorted(ordered, values, right=True)
    return (below + up_to + 1).double() / 2


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of ``a`` and ``b`` ``[N]`` (Pearson correlation of average ranks);
    ``nan`` when either is constant."""
    ra, rb = average_ranks(a.double()), average_ranks(b.double())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = (ra.square().sum() * rb.square().sum()).sqrt()
    return float(ra @ rb / denominator) if denominator > 0 else float("nan")


def compare_sensitivity(
    sensitivity: Tensor,
    result: DissectionResult,
    top_fraction: float = DEFAULT_DISSECTION.top_fraction,
    detectors: Tensor | None = None,
) -> dict:
    """The report's sensitivity–interpretability numbers for ``sensitivity`` ``[K]`` and ``result``:
    ``spearman_sensitivity_iou``, ``{topk,bottomk,randomk}_detector_share``,
    ``{topk,bottomk,randomk}_mean_iou`` (``randomk``: the expectation over uniform k-subsets, i.e.
    the mean over all K units) and ``k``. ``detectors`` ``[K]`` bool: the units counted as detectors
    (default ``result.detectors``; e.g. only those with a stable label)."""
    sensitivity = sensitivity.detach().cpu().double()
    best_iou = result.best_iou.double()
    detectors = (result.detectors if detectors is None else detectors.cpu()).double()
    if sensitivity.shape != best_iou.shape:
        raise ValueError(f"{sensitivity.shape[0]} sensitivities for {best_iou.shape[0]} dissected units")
    num_units = best_iou.shape[0]
    k = max(1, round(top_fraction * num_units))
    order = torch.argsort(sensitivity, descending=True, stable=True)
    out = {"k": k, "num_units": num_units, "spearman_sensitivity_iou": spearman(sensitivity, best_iou)}
    for name, units in (("topk", order[:k]), ("bottomk", order[-k:]), ("randomk", order)):
        out[f"{name}_detector_share"] = float(detectors[units].mean())
        out[f"{name}_mean_iou"] = float(best_iou[units].mean())
    return out


def dissection_summary(
    result: DissectionResult, sensitivity: Tensor, top_fraction: float = DEFAULT_DISSECTION.top_fraction
) -> dict:
    """What the dissection callback logs and ``analyze.py`` reports for one layer: ``layer``,
    ``num_units``, ``interpretable_units``, ``detectors_per_category`` (units and unique concepts),
    ``num_images``, and ``compare_sensitivity``'s numbers."""
    return {
        "layer": result.layer,
        "num_units": len(result.thresholds),
        "interpretable_units": result.interpretable_units,
        "num_images": result.num_images,
        "detectors_per_category": result.category_counts(),
        **compare_sensitivity(sensitivity, result, top_fraction),
    }
