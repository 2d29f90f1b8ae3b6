"""Model zoo: every model takes pixels in [0, 1] and exposes ``feature_layer`` and ``classifier``."""

from .classifier import ImageClassifier
from .normalize import Normalize
from .randomized import GaussianNoiseDefence, ResizePadDefence
from .registry import available_models, build_model

__all__ = [
    "GaussianNoiseDefence",
    "ImageClassifier",
    "Normalize",
    "ResizePadDefence",
    "available_models",
    "build_model",
]
