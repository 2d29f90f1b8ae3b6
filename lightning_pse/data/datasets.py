"""In-memory image datasets yielding the project's batch format: dicts with ``image`` and ``label``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import UserInputError


def check_labels(labels: Tensor, num_classes: int, source: str) -> None:
    """Refuse labels outside ``[0, num_classes)`` with a message naming the source."""
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserInputError(
            f"{source} has labels in [{int(labels.min())}, {int(labels.max())}] but the dataset "
            f"declares {num_classes} classes: fix the labels or the class count"
        )


class TensorImageDataset(Dataset):
    """``images`` ``uint8 [N, C, H, W]`` and ``labels`` ``int64 [N]``; items are
    ``{"image": float [C, H, W] in [0, 1], "label": int64}`` after the optional ``transform``.
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable[[Tensor], Tensor] | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise UserInputError(f"expected uint8 images [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if images.shape[0] != labels.shape[0]:
            raise UserInputError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images, self.labels, self.transform = images, labels.long(), transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        image = self.images[index].float() / 255
        if self.transform is not None:
            image = self.transform(image)
        return {"image": image, "label": self.labels[index]}


class DictDataset(Dataset):
    """Wraps a dataset of ``(image, label)`` pairs (e.g. torchvision's ImageFolder) into dicts."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        image, label = self.dataset[index]
        return {"image": image, "label": torch.as_tensor(label, dtype=torch.long)}


def check_images(x: Tensor, channels: int | None = None, source: str = "images") -> None:
    """Refuse what no model here should see: not a float ``[B, C, H, W]`` tensor, a channel count
    other than ``channels``, NaN/Inf pixels, or pixels outside [0, 1] (normalisation lives inside
    the model). One host sync for the value checks."""
    if x.dim() == 4 and not x.is_floating_point() and x.dtype != torch.bool:
        raise UserInputError(
            f"{source} are {x.dtype} (0–255 pixels?): pass float pixels in [0, 1], e.g. images.float() / 255"
        )
    if x.dim() != 4 or not x.is_floating_point():
        raise UserInputError(f"{source} must be a float tensor [B, C, H, W], got {x.dtype} {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise UserInputError(
            f"{source} have {x.shape[1]} channels but the model takes {channels}: pick a model "
            f"with in_channels={x.shape[1]} or data with {channels} channels"
        )
    finite = torch.isfinite(x)
    low, high = torch.where(finite, x, 0.5).aminmax()
    if not bool(finite.all() & (low >= 0) & (high <= 1)):
        if not finite.all():
            raise UserInputError(f"{source} contain NaN or Inf values: clean the data (or its transform)")
        hint = " (0–255 pixels? divide by 255)" if 1 < float(high) <= 255 and float(low) >= 0 else ""
        raise UserInputError(
            f"{source} must be pixels in [0, 1], got values in [{float(low):.3g}, {float(high):.3g}]{hint}: "
            f"normalisation belongs inside the model"
        )


def unpack_batch(batch) -> tuple[Tensor, Tensor]:
    """``(images, labels)`` from a dict batch (ours) or a ``(images, labels, ...)`` sequence."""
    if isinstance(batch, dict):
        return batch["image"], batch["label"]
    return batch[0], batch[1]
