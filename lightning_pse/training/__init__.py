"""LightningModules for training classifiers."""

from .classifier import ClassifierModule

__all__ = ["ClassifierModule"]
