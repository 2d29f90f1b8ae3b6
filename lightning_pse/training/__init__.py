"""LightningModules for training classifiers: standard, PGD-AT, fast AT, TRADES, MART, AWP, PSE-AT."""

from .adversarial import FastATModule, MARTModule, PGDATModule, TRADESModule
from .awp import AWPModule, TRADESAWPModule
from .classifier import ClassifierModule
from .pse_at import PSEATModule

__all__ = [
    "AWPModule",
    "ClassifierModule",
    "FastATModule",
    "MARTModule",
    "PGDATModule",
    "PSEATModule",
    "TRADESAWPModule",
    "TRADESModule",
]
