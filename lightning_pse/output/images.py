"""Pictures as tensors: coloured overlays and image grids, shared by the callbacks (W&B media)
and ``analyze.py`` (PNG figures). Pure functions; images are ``[B, C, H, W]`` in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchvision.utils import make_grid


def as_rgb(images: Tensor) -> Tensor:
    """``[B, 1 or 3, H, W]`` → ``[B, 3, H, W]`` (grey images repeated over the channels)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def category_overlay(
    images: Tensor, categories: Tensor, colors: dict[int, tuple[float, float, float]], alpha: float = 0.6
) -> Tensor:
    """Images ``[B, C, H, W]`` with the integer pixel labels ``[B, H, W]`` painted in their ``colors``
    (label → RGB in [0, 1]) at opacity ``alpha``; pixels whose label has no colour show the image
    unchanged. Returns ``[B, 3, H, W]``.
    """
    rgb = as_rgb(images.float()).clone()
    for category, color in colors.items():
        where = (categories == int(category)).unsqueeze(1)
        paint = torch.tensor(color, device=rgb.device).view(1, 3, 1, 1)
        rgb = torch.where(where, (1 - alpha) * rgb + alpha * paint, rgb)
    return rgb


def heat_overlay(images: Tensor, heat: Tensor, alpha: float = 0.5) -> Tensor:
    """Images ``[B, C, H, W]`` with a map ``[B, H, W]`` in [0, 1] blended in as a red-to-yellow heat
    colour (0 transparent, 1 at opacity ``alpha``). Returns ``[B, 3, H, W]``."""
    rgb = as_rgb(images.float())
    h = heat.float().clamp(0, 1).unsqueeze(1)
    colour = torch.cat([torch.ones_like(h), h, torch.zeros_like(h)], dim=1)
    return (1 - alpha * h) * rgb + alpha * h * colour


def side_by_side(*columns: Tensor, scale: int = 4) -> Tensor:
    """One row per image, one column per ``[B, 3, H, W]`` tensor, each upscaled ``scale``× (nearest),
    as a single ``[3, H', W']`` grid image."""
    b = columns[0].shape[0]
    tiles = torch.stack([as_rgb(c.float()) for c in columns], dim=1).flatten(0, 1)
    if scale > 1:
        tiles = torch.nn.functional.interpolate(tiles, scale_factor=scale, mode="nearest")
    return make_grid(tiles.clamp(0, 1).cpu(), nrow=len(columns) if b else 1, padding=2, pad_value=1.0)


def to_uint8(image: Tensor) -> np.ndarray:
    """``[3, H, W]`` in [0, 1] → ``[H, W, 3]`` uint8 array (what image writers and W&B expect)."""
    return (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
