"""A small, fast CNN for CPU work on 32×32 images (the synthetic benchmark's default model)."""

from __future__ import annotations

from torch import nn


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def small_cnn_body(in_channels: int = 3, width: int = 32) -> tuple[nn.Sequential, nn.Module]:
    """Six 3×3 conv-BN-ReLU layers in three stages (width, 2·width, 4·width), two 2× poolings.

    A 32-px input gives an ``[B, 4·width, 8, 8]`` feature map. Returns ``(body, feature_layer)``.
    """
    last = _conv_bn_relu(4 * width, 4 * width)
    body = nn.Sequential(
        _conv_bn_relu(in_channels, width),
        _conv_bn_relu(width, width),
        nn.MaxPool2d(2),
        _conv_bn_relu(width, 2 * width),
        _conv_bn_relu(2 * width, 2 * width),
        nn.MaxPool2d(2),
        _conv_bn_relu(2 * width, 4 * width),
        last,
    )
    return body, last
