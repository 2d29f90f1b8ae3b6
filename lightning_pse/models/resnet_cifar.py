"""CIFAR-style ResNets (He et al., 2016) and PreAct-ResNet (He et al., 2016b) for 32-px images.

The stem is one 3×3 conv (no 7×7 conv, no max-pool), then four stages at strides 1, 2, 2, 2, so a
32-px input gives a 4×4 feature map. These are the architectures of the adversarial-training
literature (Madry et al.; Rice et al. 2020 use PreAct-ResNet-18).
"""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = _projection(cin, cout, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = _projection(cin, cout, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv twice; the shortcut taps the activated input."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = _projection(cin, planes, stride, batch_norm=False)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))
        shortcut = self.shortcut(out) if len(self.shortcut) else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


def _projection(cin: int, cout: int, stride: int, batch_norm: bool = True) -> nn.Sequential:
    """Identity (empty ``Sequential``) when shapes match, else a strided 1×1 conv (+ BN)."""
    if stride == 1 and cin == cout:
        return nn.Sequential()
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 1, stride, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


def _stages(block: type[nn.Module], blocks: list[int], width: int) -> tuple[list[nn.Module], int]:
    stages, cin = [], width
    for i, n in enumerate(blocks):
        planes, layers = width * 2**i, []
        for j in range(n):
            layers.append(block(cin, planes, stride=2 if (i > 0 and j == 0) else 1))
            cin = planes * block.expansion
        stages.append(nn.Sequential(*layers))
    return stages, cin


def resnet_cifar_body(depth: int = 18, in_channels: int = 3, width: int = 64) -> tuple[nn.Sequential, nn.Module, int]:
    """ResNet-18/34 (basic blocks) or ResNet-50 (bottlenecks). Returns (body, feature_layer, K)."""
    configs = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3])}
    if depth not in configs:
        raise ValueError(f"CIFAR ResNet depth must be one of {sorted(configs)}, got {depth}")
    block, blocks = configs[depth]
    stem = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
    )
    stages, channels = _stages(block, blocks, width)
    return nn.Sequential(stem, *stages), stages[-1], channels


def preact_resnet18_body(in_channels: int = 3, width: int = 64) -> tuple[nn.Sequential, nn.Module, int]:
    """PreAct-ResNet-18; a final BN-ReLU (the ``feature_layer``) activates the last stage."""
    stages, channels = _stages(PreActBlock, [2, 2, 2, 2], width)
    final = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())
    body = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), *stages, final)
    return body, final, channels
