"""Wall-clock timing and setup shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from lightning_pse.models import build_model


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, with the GPU synchronised before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved_medians(cases: dict[str, Callable[[], object]], device: torch.device, repeats: int) -> dict[str, float]:
    """One warm-up call each, then ``repeats`` rounds calling every case in turn (so drift hits
    all alike); the median seconds per case."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for key, fn in cases.items():
            times[key].append(timed(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def device_and_model(name: str) -> tuple[torch.device, nn.Module]:
    """CUDA when present (else CPU) and a freshly initialised ``name`` for the synthetic benchmark's
    10 classes, seeded (``torch.manual_seed(0)``), on that device, in eval mode."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    return device, build_model(name, 10, mean=(0.5,) * 3, std=(0.25,) * 3).to(device).eval()
