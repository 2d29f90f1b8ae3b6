"""Network Dissection of one layer (``docs/method.md`` §3; Bau et al. 2017, NetDissect-Lite defaults).

For unit ``k`` of the layer, ``T_k`` is the ``1 − quantile`` quantile of its activations over all
probe images and positions (at the layer's resolution); the unit's map ``A_k`` is upsampled
bilinearly (``align_corners=False``) to the label resolution and binarised ``M_k = A_k↑ > T_k``;

    ``IoU_{k,c} = Σ_x |M_k(x) ∩ L_c(x)| / Σ_x |M_k(x) ∪ L_c(x)|``,

summed over the probe set, where a unit's pixels count towards concept ``c`` only on images that
annotate ``c``'s category (so ``|M ∪ L| = Σ_{x annotated} |M_k(x)| + Σ_x |L_c(x)| − |M ∩ L|``).
Unit ``k`` is a detector of its best concept ``argmax_c IoU_{k,c}`` when that IoU exceeds
``iou_threshold`` (0.04). (NetDissect-Lite counts a unit's pixels for a category only where the
category's labels appear under the unit's mask; we follow the "annotated on the image" rule.)

``dissect`` runs the two passes of ``tally`` (thresholds, then the IoU table), each cached by
``cache.StageCache`` under the key of what it depends on, and returns a ``result.DissectionResult``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError
from ..models.capture import layer_name, resolve_layer
from ..models.state import eval_mode
from .cache import StageCache, model_fingerprint
from .quantiles import QUANTILE_METHODS
from .result import DissectionResult
from .settings import DEFAULT_DISSECTION
from .sync import gather_rows, no_sync, sum_ranks
from .tally import activation_thresholds, iou_table


def dissect(
    model: nn.Module,
    layer: nn.Module | str | None,
    loader: Iterable,
    quantile: float = DEFAULT_DISSECTION.quantile,
    iou_threshold: float = DEFAULT_DISSECTION.iou_threshold,
    *,
    quantile_method: str = "exact",
    sample_size: int = 65536,
    seed: int = 0,
    concept_names: list[str] | None = None,
    concept_categories: list[str] | None = None,
    cache: str | Path | None = None,
    sync_ranks: bool = False,
) -> DissectionResult:
    """Dissect ``layer`` (a module of ``model``, its dotted name, or ``None`` for the feature layer)
    on the concept probe batches of ``loader`` (see ``tally.concept_batch``; concept names and
    categories from ``loader.dataset`` unless given).

    ``quantile_method``: ``exact`` (default) or ``sampled`` (streaming, ``sample_size`` rows; see
    ``quantiles``). ``cache``: a file holding each pass's output under the key of what it depends on
    (model weights, layer, quantile settings, probe-set size; the IoU pass also the concepts), so a
    repeated call recomputes only the passes whose inputs changed (``iou_threshold`` changes none).
    ``sync_ranks``: each DDP rank passes its shard of the probe set and every rank gets the result of
    the whole set. The model is run in eval mode and left as it was.
    """
    if not 0 < quantile < 0.5:
        raise UserInputError(
            f"quantile is the top fraction of activations (0.005 for the 0.995 quantile), got {quantile}"
        )
    if quantile_method not in QUANTILE_METHODS:
        raise UserInputError(f"unknown quantile_method {quantile_method!r}; choose from {', '.join(QUANTILE_METHODS)}")
    module = resolve_layer(model, layer)
    name = layer_name(model, module)
    dataset = getattr(loader, "dataset", None)
    names = list(concept_names or getattr(dataset, "concept_names", None) or [])
    categories = list(concept_categories or getattr(dataset, "concept_categories", None) or ["concept"] * len(names))
    stages = StageCache(cache)
    threshold_key = (
        {
            "layer": name,
            "quantile": quantile,
            "method": quantile_method,
            "sample_size": sample_size,
            "seed": seed,
            "num_items": len(dataset) if dataset is not None and hasattr(dataset, "__len__") else None,
            "model": model_fingerprint(model),
        }
        if cache is not None
        else {}
    )
    iou_key = {**threshold_key, "concepts": names, "categories": categories}
    device = next(model.parameters()).device
    gather, reduce = (gather_rows, sum_ranks) if sync_ranks else (no_sync, no_sync)
    with eval_mode(model):
        saved = stages.get("thresholds", threshold_key)
        if saved is None:
            rank_seed = seed + (
                torch.distributed.get_rank() if sync_ranks and torch.distributed.is_initialized() else 0
            )
            estimator = QUANTILE_METHODS[quantile_method](
                1 - quantile,
                **({"sample_size": sample_size, "seed": rank_seed} if quantile_method == "sampled" else {}),
            )
            thresholds, num_images = activation_thresholds(model, module, loader, estimator, name, gather, reduce)
            saved = {"thresholds": thresholds.cpu(), "num_images": num_images}
            stages.put("thresholds", threshold_key, saved)
        thresholds = saved["thresholds"].to(device)
        table = stages.get("iou", iou_key)
        if table is None:
            iou, names, categories = iou_table(model, module, loader, thresholds, names, categories, name, reduce)
            table = {"iou": iou.cpu(), "names": names, "categories": categories}
            stages.put("iou", iou_key, table)
    return DissectionResult(
        layer=name,
        thresholds=thresholds.cpu(),
        iou=table["iou"],
        concept_names=table["names"],
        concept_categories=table["categories"],
        quantile=quantile,
        iou_threshold=iou_threshold,
        num_images=saved["num_images"],
    )
