"""Randomized models (dropout or noise left on at inference, random input transforms): detecting
them, and attacking them with expectation over transformation (EOT).

An attack on a randomized model that follows single-sample gradients overestimates its robustness
(Athalye et al. 2018); AutoAttack's ``rand`` version and our attacks with ``eot_samples`` average
gradients over several forward passes instead. A deterministic model is never slowed: EOT is
switched on only when ``is_randomized`` finds that two forwards of the same batch differ.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..models.state import eval_mode
from .base import Attack

DEFAULT_EOT_SAMPLES = 20  # AutoAttack's rand version: 20 forward passes per gradient
RELATIVE_TOLERANCE = 1e-4  # beyond float noise (nondeterministic GPU kernels differ by ~1e-6)


def is_randomized(model: nn.Module, x: Tensor) -> bool:
    """Whether two eval-mode forward passes of ``x`` ``[B, C, H, W]`` give logits that differ by
    more than ``RELATIVE_TOLERANCE`` of their scale (``max|a − b| > tol·(1 + max|a|)``). The
    model's modes are restored after; no gradient is taken."""
    with eval_mode(model), torch.no_grad():
        first, second = model(x), model(x)
    return bool((first - second).abs().max() > RELATIVE_TOLERANCE * (1 + first.abs().max()))


def use_eot(attacks: Iterable[Attack], samples: int) -> None:
    """Average ``samples`` forward passes per gradient in each of ``attacks`` (``Attack.eot_samples``)."""
    for attack in attacks:
        attack.eot_samples = samples
