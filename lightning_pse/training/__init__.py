"""LightningModules for training classifiers: standard, PGD-AT, fast AT, TRADES, PSE-AT."""

from .adversarial import FastATModule, PGDATModule, TRADESModule
from .classifier import ClassifierModule
from .pse_at import PSEATModule

__all__ = ["ClassifierModule", "FastATModule", "PGDATModule", "PSEATModule", "TRADESModule"]
