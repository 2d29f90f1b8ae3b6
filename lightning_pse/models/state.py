"""Running a model for an attack or an analysis without changing it."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..errors import UserInputError


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


@contextmanager
def batchnorm_statistics_kept(model: nn.Module):
    """Inside, train-mode forwards normalise with their batch's statistics as usual, but every
    BatchNorm's running mean, variance and batch count are back to what they were on exit (also on
    error): a forward that must not teach BatchNorm its batch (e.g. the clean reference of a penalty).
    The forwards inside update copies, so the tensors an earlier forward saved for backward stay as
    they were."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    names = ("running_mean", "running_var", "num_batches_tracked")
    saved = [[getattr(m, name) for name in names] for m in norms]
    for m in norms:
        for name in names:
            setattr(m, name, getattr(m, name).clone())
    try:
        yield model
    finally:
        for m, tensors in zip(norms, saved):
            for name, tensor in zip(names, tensors):
                setattr(m, name, tensor)


def full_precision(device: torch.device):
    """A context with autocast off on ``device``'s type: inside a mixed-precision (``16-mixed``,
    ``bf16-mixed``) step, attacks and analyses still compute in the model's own float32."""
    return torch.autocast(device_type=device.type, enabled=False)


def check_takes_images(model: nn.Module, x: Tensor, num_classes: int | None, data_name: str) -> int:
    """Run ``model`` once (eval mode, no gradients, every flag restored) on ``x`` ``[1, C, H, W]``, an
    image of the data, and return its class count; an image it cannot take (size, channels), output
    that is not logits ``[B, K]``, or ``K`` other than the data's ``num_classes`` (None: data that does
    not say, whose labels ``Analysis.batches`` checks against ``K``) is a ``UserInputError``."""
    try:
        with eval_mode(model), torch.no_grad():
            logits = model(x)
    except RuntimeError as err:
        raise UserInputError(
            f"the model cannot take the data's images {tuple(x.shape[1:])}: {str(err).splitlines()[0][:200]}"
        ) from None
    if logits.dim() != 2:
        raise UserInputError(f"the model must return logits [B, K], got shape {tuple(logits.shape)}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise UserInputError(
            f"the model has {logits.shape[1]} classes but the data ({data_name}) has {num_classes}: "
            f"pass the data the model was trained on"
        )
    return logits.shape[1]
