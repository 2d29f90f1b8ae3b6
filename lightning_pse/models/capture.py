"""Capturing a layer's output with a forward hook that is always released."""

from __future__ import annotations

from contextlib import contextmanager

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
