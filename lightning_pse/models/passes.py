"""Counting the work an attack costs: images passed forward through a model and gradients passed
back through it. Counts hold across machines where wall time does not (``counting_passes``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass
class PassCount:
    """Image-passes: ``forward`` images through the model (a batch of 64 counts 64), ``backward``
    images whose output gradient flowed back through it (one ``autograd.grad`` of a batch of 64
    counts 64)."""

    forward: int = 0
    backward: int = 0

    def __add__(self, other: PassCount) -> PassCount:
        return PassCount(self.forward + other.forward, self.backward + other.backward)


@contextmanager
def counting_passes(model: nn.Module) -> Iterator[PassCount]:
    """Count, inside, every call of ``model`` (a forward hook: ``forward`` += batch size) and every
    backward pass through it (a hook on each output that needs a gradient: ``backward`` += batch
    size each time a gradient reaches it), whoever calls it (our attacks, AutoAttack). The hooks
    are removed on exit; the model is otherwise untouched."""
    count = PassCount()

    def on_forward(module: nn.Module, inputs, output) -> None:
        if not isinstance(output, Tensor):
            return
        images = output.shape[0] if output.dim() else 1
        count.forward += images
        if output.requires_grad:

            def on_backward(grad: Tensor) -> None:
                count.backward += images

            output.register_hook(on_backward)

    handle = model.register_forward_hook(on_forward)
    try:
        yield count
    finally:
        handle.remove()
