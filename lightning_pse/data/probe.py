"""Deterministic probe subsets, and their split across distributed ranks without duplicates.

Per-epoch callbacks and ``analyze.py`` measure on the same fixed subset of a split. Unlike
``DistributedSampler``, which pads the last batch with repeated samples, ``shard_indices`` gives
every sample to exactly one rank (ranks may differ in size by one), so sums over ranks count each
sample once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def probe_indices(num_items: int, num_samples: int | None, seed: int = 0) -> list[int]:
    """``num_samples`` indices of ``range(num_items)`` drawn without replacement from ``seed``,
    sorted; all of them when ``num_samples`` is ``None`` or not smaller than ``num_items``.
    The same arguments always give the same list, on any machine and rank.
    """
    if num_samples is not None and num_samples < 1:
        raise ValueError(f"a probe set needs at least one sample, got num_samples={num_samples}")
    if num_samples is None or num_samples >= num_items:
        return list(range(num_items))
    perm = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))
    return sorted(perm[:num_samples].tolist())


def shard_indices(indices: Sequence[int], rank: int, world_size: int) -> list[int]:
    """The indices rank ``rank`` of ``world_size`` handles: every ``world_size``-th from ``rank``.

    The shards are disjoint and their union is ``indices``; no index is repeated for padding.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside [0, {world_size})")
    return list(indices[rank::world_size])
