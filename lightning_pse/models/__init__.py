"""Model zoo: every model takes pixels in [0, 1] and exposes ``feature_layer`` and ``classifier``."""

from .classifier import ImageClassifier
from .normalize import Normalize
from .registry import available_models, build_model

__all__ = ["ImageClassifier", "Normalize", "available_models", "build_model"]
