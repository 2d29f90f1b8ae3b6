"""Pixel groups: sliding ``size × size`` windows with stride ``stride``, each holding all channels
(StrAttack's groups; ``docs/method.md`` §1: 2×2/2 for images up to 64 px, 13×13/13 for ImageNet size).

Windows start at 0, ``stride``, ``2·stride``, ... and the image is zero-padded at the bottom and
right when the last window would overrun it, so every pixel lies in at least one group. Group
``(i, j)`` covers rows ``i·stride .. i·stride + size − 1`` and the same for columns.

This module sits below both the attacks (StrAttack perturbs whole groups) and the PSE analysis
(which measures effects per group), so neither imports the other for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import UserInputError


def default_group_size(image_size: int) -> int:
    """2 for images up to 64 px, 13 above (StrAttack's settings for CIFAR/MNIST and ImageNet)."""
    return 2 if image_size <= 64 else 13


def check_group_layout(x: Tensor, group_size: int | None, stride: int | None = None) -> None:
    """Refuse, as a ``UserInputError``, a group size or stride that images like ``x`` ``[B, C, H, W]``
    cannot take (``None``: ``default_group_size``)."""
    height, width = x.shape[-2:]
    try:
        GroupGrid(height, width, group_size or default_group_size(height), stride)
    except ValueError as err:
        raise UserInputError(f"PSE pixel groups: {err}") from None


@dataclass(frozen=True)
class GroupGrid:
    """The group layout of ``height × width`` images; ``stride`` defaults to ``size``."""

    height: int
    width: int
    size: int
    stride: int | None = None

    def __post_init__(self) -> None:
        if self.size < 1 or self.step < 1:
            raise ValueError(f"group size and stride must be at least 1, got size={self.size}, stride={self.stride}")
        if self.size > min(self.height, self.width):
            raise ValueError(f"group size {self.size} exceeds the image ({self.height}×{self.width})")

    @property
    def step(self) -> int:
        return self.stride if self.stride is not None else self.size

    @property
    def shape(self) -> tuple[int, int]:
        """``(Gh, Gw)``: the number of groups along each axis."""
        return (
            math.ceil((self.height - self.size) / self.step) + 1,
            math.ceil((self.width - self.size) / self.step) + 1,
        )

    @property
    def num_groups(self) -> int:
        return self.shape[0] * self.shape[1]

    def _padding(self) -> tuple[int, int]:
        gh, gw = self.shape
        return (gw - 1) * self.step + self.size - self.width, (gh - 1) * self.step + self.size - self.height

    def unfold(self, t: Tensor) -> Tensor:
        """``[B, C, H, W]`` → ``[B, G, C·size²]``: each group's values (G = Gh·Gw, row-major)."""
        pad_w, pad_h = self._padding()
        padded = F.pad(t, (0, pad_w, 0, pad_h))
        return F.unfold(padded, self.size, stride=self.step).transpose(1, 2)

    def fold(self, groups: Tensor, channels: int) -> Tensor:
        """Inverse layout of ``unfold``: ``[B, G, C·size²]`` → ``[B, C, H, W]``, summing where
        overlapping groups meet (``fold(unfold(t)) = coverage · t``).
        """
        pad_w, pad_h = self._padding()
        out = F.fold(groups.transpose(1, 2), (self.height + pad_h, self.width + pad_w), self.size, stride=self.step)
        return out[:, :channels, : self.height, : self.width]

    def coverage(self, device=None, dtype=torch.float32) -> Tensor:
        """``[1, 1, H, W]``: how many groups contain each pixel (1 everywhere without overlap)."""
        ones = torch.ones(1, 1, self.height, self.width, device=device, dtype=dtype)
        return self.fold(self.unfold(ones), 1)

    def to_pixels(self, values: Tensor, reduce: str = "max") -> Tensor:
        """Group values ``[B, Gh, Gw]`` → pixels ``[B, H, W]``; where groups overlap, ``reduce``
        (``max`` or ``mean``) combines them. Without overlap each pixel takes its group's value.
        """
        b = values.shape[0]
        spread = values.reshape(b, -1, 1).expand(b, self.num_groups, self.size * self.size).to(torch.float32)
        if reduce == "mean":
            return (self.fold(spread, 1) / self.coverage(values.device))[:, 0].to(values.dtype)
        if reduce != "max":
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
        pad_w, pad_h = self._padding()
        flat = torch.full((b, (self.height + pad_h) * (self.width + pad_w)), float("-inf"), device=values.device)
        index = self._pixel_index(values.device).expand(b, -1, -1)
        flat.scatter_reduce_(1, index.reshape(b, -1), spread.reshape(b, -1), reduce="amax")
        return flat.view(b, self.height + pad_h, self.width + pad_w)[:, : self.height, : self.width].to(values.dtype)

    def _pixel_index(self, device) -> Tensor:
        """``[1, G, size²]`` flat indices (in the padded image) of each group's pixels."""
        pad_w, pad_h = self._padding()
        positions = torch.arange((self.height + pad_h) * (self.width + pad_w), device=device, dtype=torch.float32)
        grid = positions.view(1, 1, self.height + pad_h, self.width + pad_w)
        return F.unfold(grid, self.size, stride=self.step).transpose(1, 2).long()
