"""Neuron masking (``docs/method.md`` §3; the paper names it, the details are our choices): zero a set of
a layer's units at inference and measure clean and robust accuracy.

The curve masks the top ``f`` share of units by sensitivity ``s_k``, for ``f`` in
``MASK_FRACTIONS`` (``0, 1, 2, 5, 10, 20 %``; ``max(1, round(f·K))`` units for ``f > 0``), beside the
same number of seeded random units. The attack runs against the masked model (white-box: the
defence is part of the model it sees).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..attacks import Attack, robust_correct
from ..models.capture import resolve_layer
from ..models.state import eval_mode
from ..progress import tracked

MASK_FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


@contextmanager
def mask_units(model: nn.Module, layer: nn.Module | str | None, units: Tensor | Sequence[int]):
    """Inside, ``layer``'s output is zero on the channels ``units`` (dim 1) at every forward; the
    hook is removed on exit, also on error. The model's parameters are not touched."""
    module = resolve_layer(model, layer)
    units = torch.as_tensor(units, dtype=torch.long)

    def zero_units(_module, _inputs, output: Tensor) -> Tensor:
        keep = torch.ones(output.shape[1], dtype=output.dtype, device=output.device)
        keep[units.to(output.device)] = 0
        return output * keep.view(1, -1, *([1] * (output.dim() - 2)))

    handle = module.register_forward_hook(zero_units)
    try:
        yield model
    finally:
        handle.remove()


def masked_count(fraction: float, num_units: int) -> int:
    """Units masked at ``fraction``: 0 at 0, else ``max(1, round(fraction·K))``."""
    return 0 if fraction <= 0 else max(1, round(fraction * num_units))


def accuracies(model: nn.Module, attack: Attack, batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """``(clean, robust)`` accuracy of ``model`` over ``(x, y)`` batches."""
    clean = robust = total = 0
    for x, y in batches:
        with eval_mode(model), torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        clean += int(correct.sum())
        robust += int(robust_correct(attack, model, x, y, correct).sum())
        total += y.shape[0]
    return clean / max(total, 1), robust / max(total, 1)


def masking_curve(
    model: nn.Module,
    layer: nn.Module | str | None,
    sensitivity: Tensor,
    attack: Attack,
    batches: Sequence[tuple[Tensor, Tensor]],
    fractions: Sequence[float] = MASK_FRACTIONS,
    seed: int = 0,
) -> list[dict]:
    """One row per fraction: ``fraction, num_units, clean_accuracy, robust_accuracy`` (top-sensitive
    units masked) and ``random_clean_accuracy, random_robust_accuracy`` (as many random units)."""
    order = torch.argsort(sensitivity.detach().cpu(), descending=True, stable=True)
    num_units = order.numel()
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for fraction in tracked(fractions, "masking units", unit="fraction"):
        count = masked_count(fraction, num_units)
        with mask_units(model, layer, order[:count]):
            clean, robust = accuracies(model, attack, batches)
        random_units = torch.randperm(num_units, generator=generator)[:count]
        if count:
            with mask_units(model, layer, random_units):
                random_clean, random_robust = accuracies(model, attack, batches)
        else:
            random_clean, random_robust = clean, robust
        rows.append(
            {
                "fraction": fraction,
                "num_units": count,
                "clean_accuracy": clean,
                "robust_accuracy": robust,
                "random_clean_accuracy": random_clean,
                "random_robust_accuracy": random_robust,
            }
        )
    return rows
