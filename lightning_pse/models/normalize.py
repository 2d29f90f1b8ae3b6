"""Input normalisation as a module, so that the model takes pixels in [0, 1] and ε is in pixels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with ``mean``/``std`` stored as buffers.

    Shapes: ``x`` is ``[B, C, H, W]``; ``mean`` and ``std`` have ``C`` entries. Buffers move with
    the model (``.to(device)``) and are saved in its ``state_dict``, so a checkpoint carries the
    statistics it was trained with.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
