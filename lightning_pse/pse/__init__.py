"""Pixel-level promotion–suppression analysis (``docs/method.md`` §1).

``analyze(model, x, x_adv, y, target, group_size=2, stride=None, estimator="ablation", tau=1.0,
rho=0.05) -> PSEResult``.
"""

from ..groups import GroupGrid, check_group_layout, default_group_size
from .categories import Category, categorize, energy_shares, image_type, psr
from .ground_truth import concentration
from .metrics import PSEShares
from .pipeline import PSEResult, analyze, analyze_attack
from .units import UnitEffects, UnitSensitivity, unit_effects

__all__ = [
    "Category",
    "GroupGrid",
    "PSEResult",
    "PSEShares",
    "UnitEffects",
    "UnitSensitivity",
    "analyze",
    "analyze_attack",
    "categorize",
    "check_group_layout",
    "concentration",
    "default_group_size",
    "energy_shares",
    "image_type",
    "psr",
    "unit_effects",
]
