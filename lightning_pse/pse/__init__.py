"""Pixel-level promotion–suppression analysis (``docs/method.md`` §1).

``analyze(model, x, x_adv, y, target, **PSESettings(...).kwargs()) -> PSEResult`` (``PSESettings``
holds every setting and its default).
"""

from ..groups import GroupGrid, check_group_layout, default_group_size
from .categories import Category, categorize, energy_shares, image_type, psr
from .ground_truth import concentration
from .metrics import PSEShares
from .pipeline import PSEResult, analyze, analyze_attack
from .settings import DEFAULT_PSE, PSESettings
from .units import UnitEffects, UnitSensitivity, unit_effects

__all__ = [
    "Category",
    "GroupGrid",
    "DEFAULT_PSE",
    "PSEResult",
    "PSESettings",
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
