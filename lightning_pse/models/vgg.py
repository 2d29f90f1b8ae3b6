"""VGG with batch norm (Simonyan & Zisserman, 2015) in its CIFAR form: conv stages, GAP, linear."""

from __future__ import annotations

from torch import nn

VGG_CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}


def vgg_bn_body(depth: int = 16, in_channels: int = 3) -> tuple[nn.Sequential, nn.Module, int]:
    """VGG-``depth``-BN without the last max-pool, so a 32-px input keeps a 2×2 feature map for
    CAM; the head is global average pooling and one linear layer (the usual CIFAR variant).
    Returns ``(body, feature_layer, K)``; the feature layer is the last conv-BN-ReLU block.
    """
    if depth not in VGG_CONFIGS:
        raise ValueError(f"VGG depth must be one of {sorted(VGG_CONFIGS)}, got {depth}")
    layers: list[nn.Module] = []
    cin = in_channels
    for item in VGG_CONFIGS[depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(cin, int(item), 3, padding=1, bias=False),
                    nn.BatchNorm2d(int(item)),
                    nn.ReLU(inplace=True),
                )
            )
            cin = int(item)
    return nn.Sequential(*layers), layers[-1], cin
