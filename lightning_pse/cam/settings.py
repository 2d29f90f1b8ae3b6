"""``CAMSettings``: the image level's settings, defined once (``docs/method.md`` §2) and used by the
region functions, the CAM section, its callback and ``analyze.py``'s options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CAMSettings:
    """``method``: ``cam`` (GAP + linear head), ``grad_cam`` or ``grad_cam_pp``; ``threshold``: a
    class region is the map ≥ ``threshold`` · its maximum (CAM's own 0.2); ``draws``: random regions
    of equal shape averaged into the baseline (our choice, 5)."""

    method: str = "cam"
    threshold: float = 0.2
    draws: int = 5


DEFAULT_CAM = CAMSettings()
