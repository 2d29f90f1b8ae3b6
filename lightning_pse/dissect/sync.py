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
    different ``n_r``, including 0). Gathered on the tensor's device (move it to the process's
    CUDA device first with NCCL)."""
    if not _distributed():
        return tensor
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([tensor.shape[0]], device=tensor.device))
    largest = int(max(sizes).item())
    padded = torch.zeros((largest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(size.item())] for part, size in zip(parts, sizes)])


def sum_ranks(tensor: Tensor) -> Tensor:
    """The sum of ``tensor`` over ranks (a new tensor; the input is left as it is)."""
    if not _distributed():
        return tensor
    total = tensor.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total
