"""An analysis spread over processes: ``Analysis.run_shard`` on every rank, one probe shard each.

The probe set is cut into the batches of one process and dealt round-robin (``data.shard_batches``,
the callbacks' dealing): a sample shares its batch with the same samples on any number of ranks,
so the seeded attacks give it the same result. The sections sync their torchmetrics states in
``compute`` (per-sample ``Records`` are gathered and ordered by probe position), so every rank
holds the same report, equal to one process's; rank 0 draws the figures and returns them.

Two ways in:

- ``devices=N`` from one process (``evaluate(..., devices=N)``, ``analyze.py --devices N``):
  Lightning Fabric spawns N processes (``ddp_spawn``: gloo on CPU, NCCL on GPUs) and hands rank 0's
  result back;
- a launcher that starts the processes itself (torchrun, SLURM's srun; ``devices`` and
  ``num_nodes`` must match its world size, as for training): each process runs its shard in place
  and only rank 0 gets the result (the others get ``None`` and write nothing).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import UserInputError

if TYPE_CHECKING:
    from .engine import Analysis


def external_world_size() -> int | None:
    """The number of processes torchrun or SLURM started (this one among them), or ``None`` when
    neither started this process."""
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    for environment in (TorchElasticEnvironment, SLURMEnvironment):
        if environment.detect():
            return environment().world_size()
    return None


def check_devices(devices: int, num_nodes: int, device: torch.device) -> None:
    """``devices`` processes per node on ``num_nodes`` nodes must exist on this machine's kind of
    device, and match the processes a launcher started; a ``UserInputError`` naming the fix otherwise."""
    if devices < 1 or num_nodes < 1:
        raise UserInputError(f"devices and num_nodes must be at least 1, got devices={devices}, num_nodes={num_nodes}")
    if device.type == "cuda" and devices > torch.cuda.device_count():
        raise UserInputError(
            f"--devices {devices}: this machine has {torch.cuda.device_count()} GPU(s); use at most that many"
        )
    launched = external_world_size()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if device.type == "cpu" and launched is None and devices > cores:  # processes we would start ourselves
        raise UserInputError(
            f"--devices {devices} asks for {devices} processes on the CPU but this machine has {cores} core(s): "
            f"use at most {cores} (or --device cuda on a GPU machine)"
        )
    if num_nodes > 1 and launched is None:
        raise UserInputError(
            f"--num_nodes {num_nodes} needs a launcher that starts the processes on every node (torchrun or "
            "SLURM's srun, as for training; see docs/scaling.md)"
        )
    if launched is not None and launched != devices * num_nodes:
        raise UserInputError(
            f"torchrun or SLURM started {launched} processes but --devices {devices} × --num_nodes {num_nodes} "
            f"is {devices * num_nodes}: give the processes per node as --devices and the nodes as --num_nodes"
        )


def run_spread(analysis: Analysis, devices: int, num_nodes: int = 1) -> tuple[dict, dict[str, bytes]] | None:
    """``analysis.run_shard`` on ``devices × num_nodes`` ranks; ``(report, figures)`` of rank 0, or
    ``None`` on the other ranks of an external launch."""
    from lightning_fabric import Fabric

    if external_world_size() is not None:
        fabric = Fabric(accelerator=analysis.device.type, devices=devices, num_nodes=num_nodes, strategy="ddp")
        result = fabric.launch(_run_on_rank, analysis)
        return result if fabric.global_rank == 0 else None
    fabric = Fabric(accelerator=analysis.device.type, devices=devices, strategy="ddp_spawn")
    # The analysis goes to the ranks and rank 0's result comes back through files of a folder of our
    # own, written and read here: Fabric's pipe would send tensors through shared memory and return
    # the result through a pipe the main process reads only after every rank has exited (a result
    # larger than its buffer, the figures, would block rank 0 for ever).
    with tempfile.TemporaryDirectory(prefix="lightning_pse-spread-") as folder:
        sent, received = Path(folder) / "analysis.pickle", Path(folder) / "result.pickle"
        with sent.open("wb") as file:
            pickle.dump(analysis.portable(), file)
        fabric.launch(_run_sent_on_rank, sent, received)
        with received.open("rb") as file:
            return pickle.load(file)


def _run_on_rank(fabric, analysis: Analysis) -> tuple[dict, dict[str, bytes]]:
    """One rank's part: the analysis moved to the rank's device, its shard of the probe set."""
    analysis.device = fabric.device
    analysis.model.to(fabric.device)
    return analysis.run_shard(fabric.global_rank, fabric.world_size)


def _run_sent_on_rank(fabric, sent: Path, received: Path) -> None:
    """``_run_on_rank`` on the analysis pickled at ``sent``; rank 0 pickles its result to ``received``.

    Every rank then waits for the others and destroys the process group before its process exits:
    a spawned process that exits with the group alive (a rank with less work finishes first) can
    die with SIGABRT while the interpreter shuts down, as gloo's worker threads still hold tensors
    of its last collective (pytorch/pytorch#190489)."""
    with sent.open("rb") as file:
        analysis = pickle.load(file)
    result = _run_on_rank(fabric, analysis)
    if fabric.global_rank == 0:
        with received.open("wb") as file:
            pickle.dump(result, file)
    fabric.barrier()
    torch.distributed.destroy_process_group()
