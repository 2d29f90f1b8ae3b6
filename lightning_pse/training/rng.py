"""Random-number-generator states in checkpoints, so a resumed run draws what an uninterrupted one
would (PGD random starts, dropout, augmentation in the main process).

A checkpoint holds one entry per process, in rank order: under DDP each rank resumes its own
sequences (on GPUs each rank's CUDA generator has advanced differently). The states are stored as
tensors, ints, strings and lists only, so checkpoints still load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.distributed as dist


def capture_rng_states() -> dict:
    """The torch (CPU and every CUDA device), NumPy and Python generator states of this process."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(state), "gauss": gauss},
    }


def gather_rng_states() -> list[dict]:
    """Every process's ``capture_rng_states()``, in rank order (one entry without an initialised
    process group). Under DDP a collective: every rank calls it, as Lightning builds a checkpoint
    on every rank before rank 0 writes it."""
    states = capture_rng_states()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [states]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, states)
    return gathered


def restore_rank_rng_states(saved: list[dict], rank: int) -> None:
    """Set this process's generators to its own entry of ``saved`` (from ``gather_rng_states``).
    A run resumed on more processes than saved them gives the extra ranks rank 0's states."""
    restore_rng_states(saved[rank] if rank < len(saved) else saved[0])


def restore_rng_states(states: dict) -> None:
    """Set the generators to ``states`` (from ``capture_rng_states``; CUDA states only when the
    same number of devices is visible)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["cached_gaussian"])
    )
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
