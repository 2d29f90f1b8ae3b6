"""``PSESettings``: the pixel level's settings, defined once (``docs/method.md`` §1) and used by
``pse.analyze``, the PSE and CAM sections, their callbacks and ``analyze.py``'s options."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from ..errors import UserInputError
from .effects import ESTIMATORS


@dataclass(frozen=True)
class PSESettings:
    """The pixel-group effects and their categories.

    Args:
        estimator: ``ablation`` (exact, one forward per group) or ``gradient`` (first order); our
            choice of default: ablation.
        group_size: the pixel groups' side (None: 2×2 up to 64 px, 13×13 above).
        stride: the groups' stride (None: the group size).
        tau: a group is promotion- (suppression-) dominated when PSR > τ (< −τ); our choice 1.
        rho: a group is inactive when its larger effect is below ρ times the strongest group effect
            of its image; our choice 0.05.
        eps: the PSR floor, 1e-12.
        max_batch: the ablation estimator's largest forward pass (memory, not science).
    """

    estimator: Literal["ablation", "gradient"] = "ablation"
    group_size: int | None = None
    stride: int | None = None
    tau: float = 1.0
    rho: float = 0.05
    eps: float = 1e-12
    max_batch: int = 1024

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise UserInputError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if self.tau < 0 or not 0 <= self.rho <= 1 or self.eps <= 0 or self.max_batch < 1:
            raise UserInputError("PSE settings out of range: need τ ≥ 0, 0 ≤ ρ ≤ 1, ε > 0, max_batch ≥ 1")

    def kwargs(self) -> dict:
        """The keyword arguments of ``pse.analyze``."""
        return asdict(self)


DEFAULT_PSE = PSESettings()
