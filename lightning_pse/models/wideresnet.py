"""Wide ResNets (Zagoruyko & Komodakis, 2016): WRN-depth-widen, e.g. WRN-28-10 and WRN-34-10."""

from __future__ import annotations

from torch import Tensor, nn


class WideBlock(nn.Module):
    """Pre-activation block BN-ReLU-conv3×3 twice, with optional dropout between the convs."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.relu = nn.ReLU()
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(self.dropout(self.relu(self.bn2(self.conv1(out)))))
        return out + shortcut


def wide_resnet_body(
    depth: int = 28, widen_factor: int = 10, in_channels: int = 3, dropout: float = 0.0
) -> tuple[nn.Sequential, nn.Module, int]:
    """``depth = 6n + 4`` (28 → n = 4, 34 → n = 5); widths 16·k, 32·k, 64·k at strides 1, 2, 2.

    Returns ``(body, feature_layer, K)``; the feature layer is the final BN-ReLU (8×8 on 32 px).
    """
    if (depth - 4) % 6 != 0:
        raise ValueError(f"WideResNet depth must be 6n+4 (e.g. 16, 22, 28, 34, 40), got {depth}")
    n = (depth - 4) // 6
    widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)]
    cin = 16
    for i, cout in enumerate(widths):
        blocks = [WideBlock(cin if j == 0 else cout, cout, 1 if (i == 0 or j > 0) else 2, dropout) for j in range(n)]
        layers.append(nn.Sequential(*blocks))
        cin = cout
    final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU())
    return nn.Sequential(*layers, final), final, cin
