"""Running a model for an attack or an analysis without changing it."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module):
    """Eval mode and gradients enabled inside; every module's ``training`` flag restored after,
    also on error. Inside ``torch.inference_mode()`` (which cannot be left from inside) it raises
    an error naming the Trainer setting.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "attacks and analyses need gradients but were called inside torch.inference_mode(), which "
            "cannot be undone from inside: create the Trainer with inference_mode=False"
        )
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.enable_grad():
            yield model
    finally:
        for module, flag in flags:
            module.training = flag
