"""Shared machinery of the optimisation attacks (C&W, EAD, StrAttack): the per-sample binary
search over the loss constant ``c`` and the record of the best adversarial example found."""

from __future__ import annotations

import torch
from torch import Tensor

UNBOUNDED = 1e10


class ConstSearch:
    """Per-sample binary search over ``c`` (Carlini & Wagner 2017): after a success the upper
    bound becomes ``c``, after a failure the lower bound does; ``c`` moves to the midpoint, or ×10
    while no upper bound is known.
    """

    def __init__(self, batch: int, initial: float, device: torch.device, dtype: torch.dtype) -> None:
        self.const = torch.full((batch,), initial, device=device, dtype=dtype)
        self.lower = torch.zeros_like(self.const)
        self.upper = torch.full_like(self.const, UNBOUNDED)

    def update(self, succeeded: Tensor) -> None:
        self.upper = torch.where(succeeded, torch.minimum(self.upper, self.const), self.upper)
        self.lower = torch.where(succeeded, self.lower, torch.maximum(self.lower, self.const))
        bounded = self.upper < UNBOUNDED
        self.const = torch.where(bounded, (self.lower + self.upper) / 2, self.const * 10)


class BestAdversarial:
    """The successful candidate of smallest ``distance`` per sample; ``x`` where none succeeded."""

    def __init__(self, x: Tensor) -> None:
        self.x = x.clone()
        self.distance = torch.full((x.shape[0],), float("inf"), device=x.device, dtype=x.dtype)

    @property
    def found(self) -> Tensor:
        return torch.isfinite(self.distance)

    def update(self, candidate: Tensor, distance: Tensor, succeeded: Tensor) -> None:
        better = succeeded & (distance < self.distance)
        self.x = torch.where(better.view(-1, 1, 1, 1), candidate, self.x)
        self.distance = torch.where(better, distance, self.distance)

    def update_rows(self, rows: Tensor, candidate: Tensor, distance: Tensor, succeeded: Tensor) -> None:
        """``update`` for the samples ``rows`` (``[n]`` indices) only; the other arguments are ``[n, ...]``."""
        better = succeeded & (distance < self.distance[rows])
        self.x[rows[better]] = candidate[better]
        self.distance[rows[better]] = distance[better]
