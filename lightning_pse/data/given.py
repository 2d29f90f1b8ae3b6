"""The data people already have, as the ``ImageDataModule`` that ``evaluate()`` reads.

``as_datamodule(data)`` takes a pair of tensors ``(images [N, C, H, W] float in [0, 1], labels [N])``,
any ``Dataset`` whose items are ``(image, label, ...)`` tuples or ``{"image", "label"}`` dicts, a
``DataLoader`` (its dataset), or an ``ImageDataModule`` (unchanged). The given set is every split of
the module (probe, and the ranking split of the masking curve); its class count is left unset, for
``evaluate()`` to take from the model's output. Anything else is a ``UserInputError`` naming the forms.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..errors import UserInputError
from .datamodules import ImageDataModule, Splits
from .datasets import check_images, unpack_batch

ACCEPTED = (
    "evaluate() takes (images, labels) tensors, a Dataset of (image, label) tuples or {'image', 'label'} "
    "dicts, a DataLoader, or an ImageDataModule"
)


class GivenDataModule(ImageDataModule):
    """One dataset of the user's as all three splits; ``num_classes`` None until the model says it.

    Its standard radius is the unknown-data default (8/255 ℓ∞, 0.5 ℓ2): pass ``eps`` for another.
    """

    stats_key = "given"

    def __init__(self, dataset: Dataset, num_classes: int | None = None) -> None:
        super().__init__(batch_size=64)
        self.dataset, self.num_classes = dataset, num_classes
        self.in_channels = example_item(dataset)[0].shape[0]

    def _build_splits(self) -> Splits:
        return Splits(self.dataset, self.dataset, self.dataset)


def example_item(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """``(image [C, H, W], label)`` of ``dataset``'s first item, checked for the accepted forms."""
    try:
        size = len(dataset)
    except TypeError:
        raise UserInputError(f"{ACCEPTED}; got a {type(dataset).__name__} without a length") from None
    if size == 0:
        raise UserInputError("the data given to evaluate() is empty: nothing to analyse")
    item = dataset[0]
    if not (isinstance(item, dict) and {"image", "label"} <= item.keys()) and not (
        isinstance(item, (tuple, list)) and len(item) >= 2
    ):
        raise UserInputError(f"{ACCEPTED}; its items are {type(item).__name__}, not (image, label)")
    image, label = unpack_batch(item)
    if not isinstance(image, Tensor) or image.dim() != 3:
        what = f"{type(image).__name__}" + (f" {tuple(image.shape)}" if isinstance(image, Tensor) else "")
        raise UserInputError(
            f"the data's images must be tensors [C, H, W] in [0, 1], got {what} (a torchvision dataset needs "
            "transform=ToTensor())"
        )
    return image, torch.as_tensor(label)


def as_datamodule(data) -> ImageDataModule:
    """``data`` in any accepted form as an ``ImageDataModule`` (see the module docstring)."""
    if isinstance(data, ImageDataModule):
        return data
    if isinstance(data, DataLoader):
        data = data.dataset
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        images, labels = data
        if images.dim() != 4 or labels.dim() != 1 or len(images) != len(labels):
            raise UserInputError(
                f"(images, labels) must be [N, C, H, W] and [N], got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        if labels.is_floating_point():
            raise UserInputError(f"labels must be integer class indices, got {labels.dtype}")
        if not images.is_floating_point():
            check_images(images)  # names the dtype and the fix, before any image is drawn
        data = TensorDataset(images, labels.long())
    if not isinstance(data, Dataset):
        raise UserInputError(f"{ACCEPTED}; got {type(data).__name__}")
    return GivenDataModule(data)
