"""Deterministic probe subsets, and their split across distributed ranks without duplicates.

Per-epoch callbacks and ``analyze.py`` measure on the same fixed subset of a split. Unlike
``DistributedSampler``, which pads the last batch with repeated samples, ``shard_batches`` gives
every sample to exactly one rank, so sums over ranks count each sample once;
``UnpaddedDistributedSampler`` does the same for the validation and test loaders.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


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


def shard_batches(num_items: int, batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """The batches of positions ``0 .. num_items-1`` that rank ``rank`` of ``world_size`` handles.

    The positions are cut into consecutive batches of ``batch_size`` (the last may be shorter),
    the same cut whatever ``world_size``; rank ``r`` takes batches ``r, r + world_size, ...``. The
    shards are disjoint, their union is every position, nothing is repeated for padding (ranks
    differ by at most one batch), and a sample always shares its batch with the same samples, so
    batch-dependent work (seeded random starts and targets) gives the same per-sample result on
    any number of ranks.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside [0, {world_size})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batches = [list(range(start, min(start + batch_size, num_items))) for start in range(0, num_items, batch_size)]
    return batches[rank::world_size]


def shard_loader(
    dataset: Dataset, batch_size: int, rank: int, world_size: int, num_workers: int = 0
) -> Iterator[tuple[list[int], object]]:
    """``(positions, batch)`` for each of rank ``rank``'s batches of ``dataset`` (``shard_batches``).
    The loader draws its worker seed from a private generator (``private_generator``), so measuring
    a probe set never moves the global random stream that training uses."""
    batches = shard_batches(len(dataset), batch_size, rank, world_size)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, generator=private_generator())
    return zip(batches, loader)


def private_generator() -> torch.Generator:
    """A fixed-seed CPU generator for loaders that must not draw from the global one (a DataLoader
    iterator otherwise takes its base seed from ``torch``'s global generator, shifting the data
    order and random starts of the training that follows)."""
    return torch.Generator().manual_seed(0)


class UnpaddedDistributedSampler(DistributedSampler):
    """Evaluation sampler for DDP: rank ``r`` of ``W`` reads positions ``r, r + W, r + 2W, ...`` of
    the dataset in order. Unlike ``DistributedSampler`` (which Lightning injects otherwise) it pads
    nothing: with an odd split no sample is counted twice, so accuracies summed over ranks are
    exact; ranks may get one sample (and one batch) less than others."""

    def __init__(self, dataset: Dataset, num_replicas: int | None = None, rank: int | None = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.num_samples = len(range(self.rank, len(dataset), self.num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))


def evaluation_sampler(dataset: Dataset) -> UnpaddedDistributedSampler | None:
    """``UnpaddedDistributedSampler`` of ``dataset`` when a process group of several ranks is
    running (DDP), else None (the loader reads in order)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return UnpaddedDistributedSampler(dataset)
    return None
