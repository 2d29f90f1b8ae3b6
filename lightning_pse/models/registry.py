"""``build_model(name, ...)``: every architecture by name, as an ``ImageClassifier``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from ..errors import UnknownNameError
from .classifier import ImageClassifier
from .resnet_cifar import preact_resnet18_body, resnet_cifar_body
from .small_cnn import small_cnn_body
from .torchvision_models import supported_torchvision_models, torchvision_parts
from .vgg import vgg_bn_body
from .wideresnet import wide_resnet_body

# name -> function(in_channels, **kwargs) -> (body, feature_layer, feature_channels)
_OWN_MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module, int]]] = {
    "small_cnn": lambda c, width=32: (*small_cnn_body(c, width), 4 * width),
    "resnet18_cifar": lambda c, width=64: resnet_cifar_body(18, c, width),
    "resnet34_cifar": lambda c, width=64: resnet_cifar_body(34, c, width),
    "resnet50_cifar": lambda c, width=64: resnet_cifar_body(50, c, width),
    "preact_resnet18": lambda c, width=64: preact_resnet18_body(c, width),
    "wrn_28_10": lambda c, depth=28, widen_factor=10, dropout=0.0: wide_resnet_body(depth, widen_factor, c, dropout),
    "wrn_34_10": lambda c, depth=34, widen_factor=10, dropout=0.0: wide_resnet_body(depth, widen_factor, c, dropout),
    "vgg16_bn": lambda c, depth=16: vgg_bn_body(depth, c),
}
TORCHVISION_PREFIX = "tv_"


def available_models() -> list[str]:
    """Our CIFAR-style models, then torchvision's as ``tv_<name>`` (e.g. ``tv_resnet50``)."""
    return list(_OWN_MODELS) + [TORCHVISION_PREFIX + n for n in supported_torchvision_models()]


def build_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs,
) -> ImageClassifier:
    """Build architecture ``name`` taking pixels in [0, 1] with ``in_channels`` channels.

    ``mean``/``std`` are the per-channel normalisation statistics applied inside the model
    (default: none, i.e. mean 0 and std 1); the data modules provide each dataset's statistics.
    ``kwargs`` go to the architecture (``width`` for ResNets and the small CNN, ``depth``,
    ``widen_factor`` and ``dropout`` for WideResNets, ``weights`` for torchvision models).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    mean = tuple(mean) if mean is not None else (0.0,) * in_channels
    std = tuple(std) if std is not None else (1.0,) * in_channels
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"normalisation has {len(mean)} mean / {len(std)} std values but in_channels={in_channels}")
    if name in _OWN_MODELS:
        body, feature_layer, channels = _OWN_MODELS[name](in_channels, **kwargs)
        return ImageClassifier(body, feature_layer, nn.Linear(channels, num_classes), mean, std)
    if name.startswith(TORCHVISION_PREFIX) and name[len(TORCHVISION_PREFIX) :] in supported_torchvision_models():
        if in_channels != 3:
            raise ValueError(f"{name} takes 3-channel images; use a CIFAR-style model for {in_channels} channels")
        body, feature_layer, classifier, dropout = torchvision_parts(
            name[len(TORCHVISION_PREFIX) :], num_classes, **kwargs
        )
        return ImageClassifier(body, feature_layer, classifier, mean, std, dropout=dropout)
    raise UnknownNameError(f"unknown model {name!r}; known models: {', '.join(available_models())}")
