"""The two passes of a dissection over the concept probe set, batched on the model's device.

``activation_thresholds``: each unit's ``1 − quantile`` activation quantile ``T_k`` over all probe
images and positions, at the layer's own resolution. ``iou_table``: the unit maps upsampled
bilinearly (``align_corners=False``) to the label resolution and binarised ``M_k = A_k↑ > T_k``,
tallied against the concept masks (``IoUTally``; counts summed exactly: float32 per image, float64
across images). The upsampling is two matrix products (``upsample_bilinear``; equal to
``F.interpolate`` up to float rounding), the intersections one batched matrix product per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.datasets import check_images
from ..errors import UserInputError
from ..models.capture import capture
from ..progress import tracked
from .sync import no_sync


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
        raise UserInputError(
            f"dissection needs a layer with spatial maps [B, K, h, w]; this one outputs "
            f"{tuple(out.shape)}: pick a convolutional layer"
        )
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
        intersection, unit_pixels, label_pixels = (
            reduce(t) for t in (self.intersection, self.unit_pixels, self.label_pixels)
        )
        union = unit_pixels + label_pixels[None] - intersection
        return torch.where(union > 0, intersection / union.clamp(min=1), torch.zeros_like(union))


def activation_thresholds(
    model: nn.Module,
    module: nn.Module,
    loader: Iterable,
    estimator,
    name: str,
    gather: Callable = no_sync,
    reduce: Callable = no_sync,
) -> tuple[Tensor, int]:
    """``(T [K], number of images)``: the first pass. ``estimator`` is a quantile estimator
    (``quantiles``); ``gather``/``reduce`` combine DDP ranks' rows and sums (identity alone)."""
    device = next(model.parameters()).device
    num_images = torch.zeros((), dtype=torch.long, device=device)
    for batch in tracked(loader, f"dissect {name}: quantiles"):
        images, _, _ = concept_batch(batch)
        check_images(images, source="concept probe images")
        activations = layer_activations(model, module, images.to(device))
        estimator.update(activations.permute(0, 2, 3, 1).reshape(-1, activations.shape[1]))
        num_images += images.shape[0]
    total = int(reduce(num_images))
    if not total:
        raise UserInputError("the concept probe set is empty: nothing to dissect")
    return estimator.compute(lambda t: gather(t.to(device)).cpu()).to(device), total


def iou_table(
    model: nn.Module,
    module: nn.Module,
    loader: Iterable,
    thresholds: Tensor,
    names: list[str],
    categories: list[str],
    name: str,
    reduce: Callable = no_sync,
) -> tuple[Tensor, list[str], list[str]]:
    """``(IoU [K, C], concept names, categories)``: the second pass (names ``concept_<c>`` when the
    probe set gives none)."""
    device = thresholds.device
    tally = IoUTally(thresholds, len(names)) if names else None
    for batch in tracked(loader, f"dissect {name}: IoU"):
        images, masks, annotated = concept_batch(batch)
        if not names:
            names = [f"concept_{c}" for c in range(masks.shape[1])]
            categories = ["concept"] * len(names)
        if masks.shape[1] != len(names):
            raise UserInputError(
                f"the probe batches carry {masks.shape[1]} concept masks but {len(names)} concept names were given"
            )
        masks = masks.to(device).bool()
        annotated = (
            torch.ones(masks.shape[:2], dtype=torch.bool, device=device) if annotated is None else annotated.to(device)
        )
        tally = tally or IoUTally(thresholds, len(names))
        tally.update(layer_activations(model, module, images.to(device)), masks, annotated)
    return (tally or IoUTally(thresholds, len(names))).iou(reduce), names, categories
