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
that extra forward. Under DDP ``g`` is averaged over the processes before it is scaled, so every
process perturbs by the same ``v``, the gradient of the mean loss over the global batch (the
reference, single-process, takes it on the whole batch; the processes' batches are equal in size,
so the mean of their gradients is that gradient, up to BatchNorm's per-process batch statistics).
``awp_warmup``: epochs of plain adversarial training first (the reference: none for AT-AWP, 10 for
TRADES-AWP, on CIFAR-10).
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


def weight_perturbation(
    model: nn.Module,
    loss: Callable[[], Tensor],
    gamma: float,
    mean_over_processes: Callable[[Tensor], Tensor] = lambda flat: flat,
) -> list[Tensor]:
    """``v_l = γ·‖w_l‖·g_l/‖g_l‖`` for each of ``perturbed_weights(model)`` (same order and shapes),
    ``g = ∇_w loss()``; ``loss`` runs the model in whatever mode it is in. ``mean_over_processes``
    averages the gradients, flattened into one vector ``[Σ numel]``, over the processes of a
    distributed run (a strategy's ``reduce``; the identity in one process). Parameter ``.grad`` is
    not touched."""
    weights = perturbed_weights(model)
    grads = torch.autograd.grad(loss(), weights, allow_unused=True)
    grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]
    flat = mean_over_processes(torch.cat([g.reshape(-1) for g in grads]))
    grads = [g.view_as(w) for g, w in zip(flat.split([w.numel() for w in weights]), weights)]
    return [gamma * w.detach().norm() * g / (g.norm() + NORM_FLOOR) for w, g in zip(weights, grads)]


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
                    self.model,
                    lambda: self.adversarial_loss(x, x_adv, y)[0],
                    self.hparams.awp_gamma,
                    mean_over_processes=self.mean_over_processes,
                )
            weights = perturbed_weights(self.model)
            self._saved_weights = [w.detach().clone() for w in weights]
            with torch.no_grad():
                for w, v in zip(weights, offsets):
                    w.add_(v)
        return self.adversarial_loss(x, x_adv, y)

    def mean_over_processes(self, flat: Tensor) -> Tensor:
        """``flat`` averaged over the processes of the trainer's strategy (DDP: an all-reduce; one
        process, or no trainer: ``flat`` itself)."""
        return self.trainer.strategy.reduce(flat, reduce_op="mean") if self._trainer is not None else flat

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
        **kwargs: see ``PGDATModule``.
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
        **kwargs: see ``TRADESModule``.
    """

    def __init__(self, awp_gamma: float = 5e-3, awp_warmup: int = 0, **kwargs) -> None:
        check_awp(awp_gamma, awp_warmup)
        super().__init__(**kwargs)
