"""Combining per-rank dissection tallies under ``torch.distributed`` (identity in one process)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def no_sync(tensor: Tensor) -> Tensor:
    """The tensor itself: the gather or sum of a single process."""
    return tensor


def gather_rows(tensor: Tensor) -> Tensor:
    """``tensor`` ``[n_r, ...]`` of every rank concatenated along dim 0 in rank order (ranks may hold
    different ``n_r``, including 0; a rank with no rows may give any trailing shape of the same
    number of dimensions, e.g. ``[0, 0]``, as it may not know the others'). Gathered on the
    tensor's device (move it to the process's CUDA device first with NCCL)."""
    if not _distributed():
        return tensor
    world = dist.get_world_size()
    shapes = [torch.zeros(tensor.dim(), dtype=torch.long, device=tensor.device) for _ in range(world)]
    dist.all_gather(shapes, torch.tensor(tensor.shape, dtype=torch.long, device=tensor.device))
    sizes = [int(shape[0]) for shape in shapes]
    trailing = next((tuple(shape[1:].tolist()) for shape in shapes if shape[0] > 0), tuple(tensor.shape[1:]))
    padded = torch.zeros((max(sizes), *trailing), dtype=tensor.dtype, device=tensor.device)
    if tensor.shape[0]:
        padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def sum_ranks(tensor: Tensor) -> Tensor:
    """The sum of ``tensor`` over ranks (a new tensor; the input is left as it is)."""
    if not _distributed():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total
