"""Adversarial weight perturbation (AWP; Wu et al., "Adversarial Weight Perturbation Helps Robust
Generalization", NeurIPS 2020) on top of PGD-AT and TRADES.

Each training step, after the attack has found ``x'``: one ascent step on the weights maximises the
module's own adversarial loss ``L(w; x, x', y)``, scaled layer by layer to the weight's norm,

    v_l = γ · ‖w_l‖ · g_l / ‖g_l‖,    g_l = ∇_{w_l} L(w; x, x', y),

for every weight ``w_l`` with two or more dimensions (convolution and linear weights; biases and
normalisation parameters are not perturbed, as in the reference implementation). The loss is then
computed at ``w + v``, its gradient taken there, and the weights are restored to ``w`` (copied back
exactly) before the optimiser steps, so the update is ``w ← w − lr·∇L(w + v)``.

The gradient ``g`` is taken in train mode like the loss; BatchNorm's running statistics keep none of
that extra forward. Under DDP each process perturbs with its own batch's gradient (the reference,
single-process, uses the whole batch). ``awp_warmup``: epochs of plain adversarial training first
(the reference: none for AT-AWP, 10 for TRADES-AWP, on CIFAR-10).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import check_range
from ..models.state import batchnorm_statistics_kept
from .adversarial import PGDATModule, TRADESModule

NORM_FLOOR = 1e-20  # ‖g_l‖ below it: no direction (the reference's constant)


def perturbed_weights(model: nn.Module) -> list[nn.Parameter]:
    """The parameters AWP perturbs: every trainable weight with two or more dimensions."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def weight_perturbation(model: nn.Module, loss: Callable[[], Tensor], gamma: float) -> list[Tensor]:
    """``v_l = γ·‖w_l‖·g_l/‖g_l‖`` for each of ``perturbed_weights(model)`` (same order and shapes),
    ``g = ∇_w loss()``; ``loss`` runs the model in whatever mode it is in. Parameter ``.grad`` is
    not touched."""
    weights = perturbed_weights(model)
    grads = torch.autograd.grad(loss(), weights, allow_unused=True)
    offsets = []
    for w, g in zip(weights, grads):
        if g is None:
            offsets.append(torch.zeros_like(w))
            continue
        offsets.append(gamma * w.detach().norm() * g / (g.norm() + NORM_FLOOR))
    return offsets


class AdversarialWeightPerturbation:
    """Mixin for a module with ``attack`` and ``adversarial_loss(x, x', y)`` (``PGDATModule``,
    ``TRADESModule``): the loss at perturbed weights (module docstring). ``hparams`` carries
    ``awp_gamma`` and ``awp_warmup``."""

    _saved_weights: list[Tensor] | None = None

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_adv = self.attack(self.model, x, y)
        if self.current_epoch >= self.hparams.awp_warmup and self.hparams.awp_gamma > 0:
            with batchnorm_statistics_kept(self.model):
                offsets = weight_perturbation(
                    self.model, lambda: self.adversarial_loss(x, x_adv, y)[0], self.hparams.awp_gamma
                )
            weights = perturbed_weights(self.model)
            self._saved_weights = [w.detach().clone() for w in weights]
            with torch.no_grad():
                for w, v in zip(weights, offsets):
                    w.add_(v)
        return self.adversarial_loss(x, x_adv, y)

    def on_after_backward(self) -> None:
        """Back to ``w`` (the gradient was taken at ``w + v``), before the optimiser steps."""
        super().on_after_backward()
        self.restore_weights()

    def restore_weights(self) -> None:
        if self._saved_weights is None:
            return
        with torch.no_grad():
            for w, saved in zip(perturbed_weights(self.model), self._saved_weights):
                w.copy_(saved)
        self._saved_weights = None


def check_awp(gamma: float, warmup: int) -> None:
    check_range("awp_gamma", gamma, low=0)
    check_range("awp_warmup", warmup, low=0)


class AWPModule(AdversarialWeightPerturbation, PGDATModule):
    """PGD-AT with adversarial weight perturbation (AT-AWP).

    Args:
        awp_gamma: γ, the perturbation's size relative to each weight's norm (AT-AWP's reference
            setting on CIFAR-10: 1e-2).
        awp_warmup: epochs of plain PGD-AT before AWP starts (reference: 0).
        other arguments: see ``PGDATModule``.
    """

    def __init__(self, awp_gamma: float = 1e-2, awp_warmup: int = 0, **kwargs) -> None:
        check_awp(awp_gamma, awp_warmup)
        super().__init__(**kwargs)


class TRADESAWPModule(AdversarialWeightPerturbation, TRADESModule):
    """TRADES with adversarial weight perturbation (TRADES-AWP); the perturbation ascends the TRADES
    loss.

    Args:
        awp_gamma: γ (TRADES-AWP's reference setting on CIFAR-10: 5e-3).
        awp_warmup: epochs of plain TRADES before AWP starts (reference: 10 of 200; default 0 here,
            set it in the config).
        other arguments: see ``TRADESModule``.
    """

    def __init__(self, awp_gamma: float = 5e-3, awp_warmup: int = 0, **kwargs) -> None:
        check_awp(awp_gamma, awp_warmup)
        super().__init__(**kwargs)
