"""Randomized input defences users meet, wrapped around any classifier (pixels in [0, 1] → logits),
to evaluate them as they are deployed: random at inference, in eval mode too.

- ``GaussianNoiseDefence(model, sigma)``: ``model(clip(x + σ·n, 0, 1))``, ``n ~ N(0, I)`` drawn anew
  at every forward pass (noise injected at inference, the base classifier of randomized smoothing
  without its vote).
- ``ResizePadDefence(model, shrink)`` (Xie et al. 2018, "Mitigating adversarial effects through
  randomization", at the input size): each forward resizes the batch to a random side ``s`` in
  ``[H − shrink, H]`` (bilinear) and zero-pads it back to ``H × W`` at a random offset.

Both are differentiable in ``x`` (gradients exist, but single-sample ones describe one random draw:
attack them with EOT, ``attacks.randomness``, as ``Analysis`` does once ``is_randomized`` sees two
forward passes differ). Their randomness comes from torch's global generator: ``torch.manual_seed``
makes a whole evaluation repeatable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserInputError


class GaussianNoiseDefence(nn.Module):
    """``model`` behind Gaussian input noise of standard deviation ``sigma`` (pixels), at every pass.

    Args:
        model: the classifier, pixels ``[B, C, H, W]`` in [0, 1] → logits ``[B, K]``.
        sigma: the noise's standard deviation in pixels (> 0).
    """

    def __init__(self, model: nn.Module, sigma: float) -> None:
        super().__init__()
        if not sigma > 0:
            raise UserInputError(f"the noise defence needs sigma > 0, got {sigma}")
        self.model, self.sigma = model, sigma

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x + self.sigma * torch.randn_like(x)).clamp(0, 1))


class ResizePadDefence(nn.Module):
    """``model`` behind a random resize and pad of its input, at every pass.

    Args:
        model: the classifier, pixels ``[B, C, H, W]`` in [0, 1] → logits ``[B, K]``.
        shrink: the largest number of pixels the side shrinks by (≥ 1, below the image's side);
            the side is drawn uniformly from ``H − shrink … H`` and the offset uniformly from the
            positions that keep the resized image inside ``H × W`` (one draw per batch).
    """

    def __init__(self, model: nn.Module, shrink: int) -> None:
        super().__init__()
        if shrink < 1:
            raise UserInputError(f"the resize-and-pad defence needs shrink ≥ 1 pixel, got {shrink}")
        self.model, self.shrink = model, shrink

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if self.shrink >= min(height, width):
            raise UserInputError(
                f"resize-and-pad shrink {self.shrink} is not below the image side {min(height, width)}"
            )
        cut = int(torch.randint(0, self.shrink + 1, ()))
        resized = F.interpolate(x, size=(height - cut, width - cut), mode="bilinear", align_corners=False)
        top, left = (int(torch.randint(0, cut + 1, ())) for _ in range(2))
        return self.model(F.pad(resized, (left, cut - left, top, cut - top)))


DEFENCES = {"noise": GaussianNoiseDefence, "resize_pad": ResizePadDefence}
