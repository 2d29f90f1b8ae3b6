"""``CAMSettings``: the image level's settings, defined once (``docs/method.md`` §2) and used by the
region functions, the CAM section, its callback and ``analyze.py``'s ``--cam.*`` options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import UnknownNameError, UserInputError
from .methods import CAM_METHODS


@dataclass(frozen=True)
class CAMSettings:
    """The class-activation regions.

    Args:
        method: ``cam`` (needs a GAP + linear head; other models get ``grad_cam``), ``grad_cam``
            or ``grad_cam_pp``.
        layer: the method's layer (default: the model's feature layer, or its last conv layer).
        threshold: a class region is the map ≥ ``threshold`` · its maximum (CAM's own 0.2).
        draws: random regions of equal shape averaged into the baseline (our choice, 5).
    """

    method: Literal["cam", "grad_cam", "grad_cam_pp"] = "cam"
    layer: str | None = None
    threshold: float = 0.2
    draws: int = 5

    def __post_init__(self) -> None:
        if self.method not in CAM_METHODS:
            raise UnknownNameError(f"unknown CAM method {self.method!r}; choose one of {', '.join(CAM_METHODS)}")
        if not 0 <= self.threshold <= 1:
            raise UserInputError(f"cam.threshold must lie in [0, 1], got {self.threshold}")
        if self.draws < 1:
            raise UserInputError(f"cam.draws must be at least 1, got {self.draws}")


DEFAULT_CAM = CAMSettings()
