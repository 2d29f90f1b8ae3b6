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

Two passes over the loader, both batched on the model's device: activations for the quantiles,
then the IoU tally (counts summed exactly: float32 per image, float64 across images). The
upsampling is done as two matrix products (``upsample_bilinear``; equal to ``F.interpolate`` up to
float rounding), the intersections as one batched matrix product per batch.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ..data.datasets import check_images
from ..errors import UserInputError
from ..models.capture import capture, resolve_layer
from ..models.state import eval_mode
from .quantiles import QUANTILE_METHODS
from .sync import gather_rows, no_sync, sum_ranks


@dataclass
class DissectionResult:
    """Dissection of ``layer``: ``thresholds`` ``[K]``, ``iou`` ``[K, C]`` (CPU, float64), the
    concepts' names and categories (``C`` each), the settings and the probe set's size."""

    layer: str
    thresholds: Tensor
    iou: Tensor
    concept_names: list[str]
    concept_categories: list[str]
    quantile: float = 0.005
    iou_threshold: float = 0.04
    num_images: int = 0

    @property
    def best_concept(self) -> Tensor:
        """``[K]`` long: each unit's concept of highest IoU."""
        return self.iou.argmax(dim=1)

    @property
    def best_iou(self) -> Tensor:
        """``[K]``: each unit's highest IoU."""
        return self.iou.max(dim=1).values

    @property
    def detectors(self) -> Tensor:
        """``[K]`` bool: the unit is an interpretable detector (best IoU > ``iou_threshold``)."""
        return self.best_iou > self.iou_threshold

    @property
    def interpretable_units(self) -> int:
        return int(self.detectors.sum())

    def category_counts(self) -> dict[str, dict[str, int]]:
        """Per category: detector ``units`` whose best concept is in it, and the ``concepts`` they
        cover (unique detectors, as Network Dissection reports them)."""
        out = {category: {"units": 0, "concepts": 0} for category in dict.fromkeys(self.concept_categories)}
        detected = self.best_concept[self.detectors].tolist()
        for concept in detected:
            out[self.concept_categories[concept]]["units"] += 1
        for concept in set(detected):
            out[self.concept_categories[concept]]["concepts"] += 1
        return out

    def unit_rows(self, sensitivity: Tensor | None = None) -> list[dict]:
        """One row per unit: ``unit, concept, category, iou, detector`` (and ``sensitivity``)."""
        rows = []
        for unit, (concept, score, detector) in enumerate(zip(self.best_concept.tolist(), self.best_iou.tolist(),
                                                              self.detectors.tolist())):
            row = {"unit": unit, "concept": self.concept_names[concept], "category": self.concept_categories[concept],
                   "iou": score, "detector": detector}
            if sensitivity is not None:
                row["sensitivity"] = float(sensitivity[unit])
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        return dict(vars(self))

    def save(self, path: str | Path, key: dict | None = None) -> None:
        """Write the result (and the cache ``key``) atomically: a temporary file, then renamed."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        torch.save({"key": key or {}, "result": self.to_dict()}, partial)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str | Path, key: dict | None = None) -> "DissectionResult | None":
        """The result saved at ``path`` (``weights_only`` load), or ``None`` when the file is missing
        or was saved under another ``key``."""
        try:
            saved = torch.load(path, weights_only=True)
        except FileNotFoundError:
            return None
        except Exception as err:  # noqa: BLE001 - a damaged cache is recomputed, never trusted
            raise UserInputError(f"cannot read the dissection cache {path} ({type(err).__name__}): delete it") from None
        if key is not None and saved.get("key") != key:
            return None
        return cls(**saved["result"])


def layer_name(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's parameters and buffers (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def concept_batch(batch) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(images, concept_masks, annotated or None)`` from a dict batch (``image``, ``concepts``,
    ``annotated``) or a tuple ``(images, masks[, annotated])``."""
    if isinstance(batch, dict):
        return batch["image"], batch["concepts"], batch.get("annotated")
    images, masks, *rest = batch
    return images, masks, rest[0] if rest else None


def layer_activations(model: nn.Module, module: nn.Module, images: Tensor) -> Tensor:
    """``[B, K, h, w]`` float32 output of ``module`` for ``images`` (no gradients)."""
    with torch.no_grad(), capture(module) as outputs:
        model(images)
    out = outputs[0]
    if out.dim() != 4:
        raise UserInputError(f"dissection needs a layer with spatial maps [B, K, h, w]; this one outputs "
                             f"{tuple(out.shape)}: pick a convolutional layer")
    return out.float()


def linear_weights(size_in: int, size_out: int, device: torch.device) -> Tensor:
    """``[size_out, size_in]``: 1-D linear interpolation with half-pixel centres (``align_corners=False``),
    the weights ``F.interpolate`` uses."""
    eye = torch.eye(size_in, device=device).unsqueeze(1)  # [in, 1, in]: each input sample alone
    return F.interpolate(eye, size=size_out, mode="linear", align_corners=False)[:, 0, :].T


def upsample_bilinear(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """``maps`` ``[B, K, h, w]`` resized bilinearly to ``size`` (``align_corners=False``) as two matrix
    products ``W_h · A · W_wᵀ``: bilinear interpolation is separable, so this equals
    ``F.interpolate(..., mode="bilinear")`` up to float rounding, several times faster on CPU."""
    rows = linear_weights(maps.shape[-2], size[0], maps.device)
    cols = linear_weights(maps.shape[-1], size[1], maps.device)
    return torch.matmul(torch.matmul(rows, maps), cols.T)


class IoUTally:
    """Running sums of ``|M_k ∩ L_c|``, ``Σ_{annotated} |M_k|`` and ``|L_c|`` over batches."""

    def __init__(self, thresholds: Tensor, num_concepts: int) -> None:
        k, device = thresholds.shape[0], thresholds.device
        self.thresholds = thresholds
        self.intersection = torch.zeros(k, num_concepts, dtype=torch.float64, device=device)
        self.unit_pixels = torch.zeros(k, num_concepts, dtype=torch.float64, device=device)
        self.label_pixels = torch.zeros(num_concepts, dtype=torch.float64, device=device)

    def update(self, activations: Tensor, masks: Tensor, annotated: Tensor) -> None:
        """``activations`` ``[B, K, h', w']``, ``masks`` ``[B, C, h, w]`` bool, ``annotated`` ``[B, C]``.
        Like the unit's area, a concept's pixels count only on images that annotate its category
        (a label also painted by another category's map, e.g. a Broden part PNG, would otherwise
        enter the intersection without the matching unit area, and IoU could exceed 1)."""
        upsampled = upsample_bilinear(activations, masks.shape[-2:])
        active = (upsampled > self.thresholds[None, :, None, None]).flatten(2).float()  # [B, K, P]
        labels = masks.flatten(2).float() * annotated[:, :, None].float()  # [B, C, P]
        self.intersection += torch.bmm(active, labels.transpose(1, 2)).sum(dim=0, dtype=torch.float64)
        self.unit_pixels += active.sum(dim=2).double().T @ annotated.double()
        self.label_pixels += labels.sum(dim=(0, 2), dtype=torch.float64)

    def iou(self, reduce=no_sync) -> Tensor:
        intersection, unit_pixels, label_pixels = (reduce(t) for t in
                                                   (self.intersection, self.unit_pixels, self.label_pixels))
        union = unit_pixels + label_pixels[None] - intersection
        return torch.where(union > 0, intersection / union.clamp(min=1), torch.zeros_like(union))


def dissect(model: nn.Module, layer: nn.Module | str | None, loader: Iterable, quantile: float = 0.005,
            iou_threshold: float = 0.04, *, quantile_method: str = "exact", sample_size: int = 65536, seed: int = 0,
            concept_names: list[str] | None = None, concept_categories: list[str] | None = None,
            cache: str | Path | None = None, sync_ranks: bool = False, progress: bool = False) -> DissectionResult:
    """Dissect ``layer`` (a module of ``model``, its dotted name, or ``None`` for the feature layer)
    on the concept probe batches of ``loader`` (see ``concept_batch``; concept names and categories
    from ``loader.dataset`` unless given).

    ``quantile_method``: ``exact`` (default) or ``sampled`` (streaming, ``sample_size`` rows; see
    ``quantiles``). ``cache``: a file; a result saved there for the same model weights, layer,
    settings, concepts and probe-set size is returned without recomputing, else the result is
    saved there. ``sync_ranks``: each DDP rank passes its shard of the probe set and every rank
    gets the result of the whole set. The model is run in eval mode and left as it was.
    """
    if not 0 < quantile < 0.5:
        raise UserInputError(f"quantile is the top fraction of activations (0.005 for the 0.995 quantile), got {quantile}")
    if quantile_method not in QUANTILE_METHODS:
        raise UserInputError(f"unknown quantile_method {quantile_method!r}; choose from {', '.join(QUANTILE_METHODS)}")
    module = resolve_layer(model, layer)
    name = layer_name(model, module)
    dataset = getattr(loader, "dataset", None)
    names = list(concept_names or getattr(dataset, "concept_names", None) or [])
    categories = list(concept_categories or getattr(dataset, "concept_categories", None) or ["concept"] * len(names))
    key = {"layer": name, "quantile": quantile, "iou_threshold": iou_threshold, "method": quantile_method,
           "sample_size": sample_size, "seed": seed, "concepts": names, "categories": categories,
           "num_items": len(dataset) if dataset is not None and hasattr(dataset, "__len__") else None,
           "model": model_fingerprint(model)} if cache is not None else None
    if cache is not None and (cached := DissectionResult.load(cache, key)) is not None:
        return cached
    device = next(model.parameters()).device
    gather, reduce = (gather_rows, sum_ranks) if sync_ranks else (no_sync, no_sync)
    rank_seed = seed + (torch.distributed.get_rank() if sync_ranks and torch.distributed.is_initialized() else 0)
    estimator = QUANTILE_METHODS[quantile_method](1 - quantile, **(
        {"sample_size": sample_size, "seed": rank_seed} if quantile_method == "sampled" else {}))
    num_images = torch.zeros((), dtype=torch.long, device=device)
    with eval_mode(model):
        for batch in tqdm(loader, desc=f"dissect {name}: quantiles", disable=not progress, unit="batch"):
            images, _, _ = concept_batch(batch)
            check_images(images, source="concept probe images")
            activations = layer_activations(model, module, images.to(device))
            estimator.update(activations.permute(0, 2, 3, 1).reshape(-1, activations.shape[1]))
            num_images += images.shape[0]
        if not int(reduce(num_images)):
            raise UserInputError("the concept probe set is empty: nothing to dissect")
        thresholds = estimator.compute(lambda t: gather(t.to(device)).cpu()).to(device)
        tally = IoUTally(thresholds, len(names)) if names else None
        for batch in tqdm(loader, desc=f"dissect {name}: IoU", disable=not progress, unit="batch"):
            images, masks, annotated = concept_batch(batch)
            if not names:
                names = [f"concept_{c}" for c in range(masks.shape[1])]
                categories = ["concept"] * len(names)
            if masks.shape[1] != len(names):
                raise UserInputError(f"the probe batches carry {masks.shape[1]} concept masks but {len(names)} concept "
                                     f"names were given")
            masks = masks.to(device).bool()
            annotated = torch.ones(masks.shape[:2], dtype=torch.bool, device=device) if annotated is None \
                else annotated.to(device)
            tally = tally or IoUTally(thresholds, len(names))
            tally.update(layer_activations(model, module, images.to(device)), masks, annotated)
    iou = (tally or IoUTally(thresholds, len(names))).iou(reduce)
    result = DissectionResult(layer=name, thresholds=thresholds.cpu(), iou=iou.cpu(), concept_names=names,
                              concept_categories=categories, quantile=quantile, iou_threshold=iou_threshold,
                              num_images=int(reduce(num_images)))
    if cache is not None:
        result.save(cache, key)
    return result
