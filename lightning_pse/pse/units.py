"""Unit-level promotion and suppression (``docs/method.md`` §1): how an attack moves each unit's
spatial-mean activation in a chosen layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from ..models.capture import capture, resolve_layer
from ..models.state import eval_mode


@dataclass
class UnitEffects:
    """Per unit ``k`` of the layer (``[K]`` unless noted):

    ``clean`` / ``adversarial``: ``ā_k`` averaged over images; ``change`` ``[B, K]``:
    ``ā_k(x') − ā_k(x)``; ``promoted`` / ``suppressed``: the mean change is positive / negative;
    ``sensitivity``: ``s_k = mean_x |ā_k(x') − ā_k(x)| / (mean_x ā_k(x) + ε)``.
    """

    clean: Tensor
    adversarial: Tensor
    change: Tensor
    promoted: Tensor
    suppressed: Tensor
    sensitivity: Tensor


def relative_change(mean_abs_change: Tensor, mean_clean: Tensor, eps: float = 1e-12) -> Tensor:
    """``s_k = mean_x |ā_k(x') − ā_k(x)| / (mean_x ā_k(x) + ε)`` from the two means ``[K]``."""
    return mean_abs_change / (mean_clean + eps)


def spatial_mean_activations(model: nn.Module, layer: nn.Module | str | None, x: Tensor) -> Tensor:
    """``ā(x)`` ``[B, K]``: the layer's output averaged over its spatial positions."""
    module = resolve_layer(model, layer)
    with eval_mode(model), torch.no_grad(), capture(module) as outputs:
        model(x)
    return spatial_mean(outputs[0])


def spatial_mean(activations: Tensor) -> Tensor:
    """``[B, K, ...]`` → ``[B, K]``: the mean over spatial positions (a ``[B, K]`` input is returned as is)."""
    return activations.flatten(2).mean(dim=2) if activations.dim() > 2 else activations


def unit_effects(
    model: nn.Module, layer: nn.Module | str | None, x: Tensor, x_adv: Tensor, eps: float = 1e-12
) -> UnitEffects:
    """Unit-level effects of ``x → x_adv`` (both ``[B, C, H, W]``) in ``layer``."""
    clean = spatial_mean_activations(model, layer, x)
    adversarial = spatial_mean_activations(model, layer, x_adv)
    change = adversarial - clean
    mean_change = change.mean(dim=0)
    return UnitEffects(
        clean=clean.mean(dim=0),
        adversarial=adversarial.mean(dim=0),
        change=change,
        promoted=mean_change > 0,
        suppressed=mean_change < 0,
        sensitivity=relative_change(change.abs().mean(dim=0), clean.mean(dim=0), eps),
    )


class UnitSensitivity(Metric):
    """``s_k`` ``[K]`` over batches (and, under DDP, ranks): the sums ``Σ_x |ā_k(x') − ā_k(x)|``,
    ``Σ_x ā_k(x)`` and the image count, in float64; ``compute()`` gives
    ``s_k = mean_x |Δā_k| / (mean_x ā_k + ε)``, the ``sensitivity`` of ``unit_effects`` over all
    images seen."""

    full_state_update = False

    def __init__(self, num_units: int, eps: float = 1e-12, **kwargs) -> None:
        super().__init__(**kwargs)
        self.eps = eps
        self.add_state("abs_change", default=torch.zeros(num_units, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("clean", default=torch.zeros(num_units, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, effects: UnitEffects) -> None:
        batch = effects.change.shape[0]
        self.abs_change += effects.change.abs().sum(dim=0).double()
        self.clean += effects.clean.double() * batch
        self.count += batch

    def compute(self) -> Tensor:
        count = self.count.clamp(min=1)
        return relative_change(self.abs_change / count, self.clean / count, self.eps).float()
