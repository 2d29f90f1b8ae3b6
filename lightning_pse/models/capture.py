"""Capturing a layer's output with a forward hook that is always released."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..errors import UnknownNameError


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """``layer`` as a module of ``model``: a module, its dotted name, or ``None`` for
    ``model.feature_layer``."""
    if layer is None:
        return model.feature_layer
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError("the layer is not a module of this model")
        return layer
    try:
        return model.get_submodule(layer)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise UnknownNameError(f"model has no layer {layer!r}; layers include {', '.join(names[:12])}, ...") from None


@contextmanager
def capture(module: nn.Module):
    """Inside, ``outputs`` (the yielded list) receives ``module``'s output at each forward call;
    the hook is removed on exit, also on error."""
    outputs: list[Tensor] = []
    handle = module.register_forward_hook(lambda m, inputs, out: outputs.append(out))
    try:
        yield outputs
    finally:
        handle.remove()


def last_conv_layer(model: nn.Module, x: Tensor) -> str:
    """The dotted name of the last ``nn.Conv2d`` that runs in ``model``'s forward pass on ``x``
    (``[B, C, H, W]``; one image suffices): Grad-CAM's and dissection's layer for models without a
    declared feature layer."""
    order: list[str] = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: order.append(name))
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    if not order:
        raise UnknownNameError(
            "the model has no Conv2d layer to take Grad-CAM or dissection at: name one with "
            "--cam.layer / --dissection.layer"
        )
    return order[-1]


def layer_name(model: nn.Module, module: nn.Module) -> str:
    """The dotted name of ``module`` inside ``model``."""
    return next(name for name, m in model.named_modules() if m is module)
