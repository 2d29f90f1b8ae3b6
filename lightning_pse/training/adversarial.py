"""Adversarial training: PGD-AT, fast AT (FGSM-RS) and TRADES, on ``ClassifierModule``'s base.

The attack of every step runs in eval mode on the current weights (``Attack`` restores the train
mode and leaves parameter gradients and BatchNorm statistics alone); the loss is then computed in
train mode, so BatchNorm statistics are updated by the training forward only.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..attacks import PGD, Attack, TRADESAttack
from ..errors import check_range
from .classifier import ClassifierModule


class PGDATModule(ClassifierModule):
    """PGD adversarial training (Madry et al., ICLR 2018): minimise ``CE(f(x + δ*), y)`` with ``δ*``
    from PGD on the current model. Logs ``train/acc`` on the adversarial batch.

    Args:
        eps: ε of the threat model, in pixels (literature: ℓ∞ 8/255 on CIFAR-size data).
        steps, step_size: PGD iterations and step (literature: 10 steps of 2/255).
        norm: ``linf`` or ``l2``.
        random_start: start uniformly in the ε-ball.
        attack_loss: the attack's objective, ``ce`` (Madry; what ``None`` means) or ``cw`` (margin).
        other arguments: see ``ClassifierModule``.
    """

    selection_metric = "val/robust_acc"  # robust accuracy under ``RobustEvalCallback``, on validation

    def __init__(
        self,
        eps: float = 8 / 255,
        steps: int = 10,
        step_size: float = 2 / 255,
        norm: str = "linf",
        random_start: bool = True,
        attack_loss: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.attack = self.build_attack()

    def build_attack(self) -> Attack:
        return self.inner_pgd(loss=self.hparams.attack_loss or "ce")

    def inner_pgd(self, **settings) -> PGD:
        """A PGD with the module's inner budget (``eps``, ``steps``, ``step_size``, ``norm``,
        ``random_start``) and ``settings`` (loss, seed, ...)."""
        h = self.hparams
        return PGD(
            eps=h.eps, steps=h.steps, step_size=h.step_size, norm=h.norm, random_start=h.random_start, **settings
        )

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_adv = self.attack(self.model, x, y)
        logits = self(x_adv)
        return self.criterion(logits, y), logits


class FastATModule(PGDATModule):
    """Fast adversarial training ("Fast is better than free", Wong et al., ICLR 2020): PGD-AT with
    one FGSM step of ``1.25·ε`` from a uniform random start (FGSM-RS). Arguments as ``PGDATModule``.
    """

    def __init__(
        self,
        eps: float = 8 / 255,
        steps: int = 1,
        step_size: float = 10 / 255,
        norm: str = "linf",
        random_start: bool = True,
        attack_loss: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(
            eps=eps,
            steps=steps,
            step_size=step_size,
            norm=norm,
            random_start=random_start,
            attack_loss=attack_loss,
            **kwargs,
        )


class TRADESModule(ClassifierModule):
    """TRADES (Zhang et al., ICML 2019): minimise ``CE(f(x), y) + β·KL(p(x) ‖ p(x'))`` with ``x'``
    maximising the KL in the ε-ball (``TRADESAttack``). Both forwards run in train mode, as in the
    reference implementation; ``train/acc`` is measured on the clean batch.

    Args:
        beta: β, the weight of the robustness term (TRADES: 6).
        eps, steps, step_size, norm: the inner maximisation (TRADES: ℓ∞ 8/255, 10 steps of 2/255).
        other arguments: see ``ClassifierModule``.
    """

    selection_metric = "val/robust_acc"  # robust accuracy under ``RobustEvalCallback``, on validation

    def __init__(
        self,
        beta: float = 6.0,
        eps: float = 8 / 255,
        steps: int = 10,
        step_size: float = 2 / 255,
        norm: str = "linf",
        **kwargs,
    ) -> None:
        check_range("beta", beta, low=0)
        super().__init__(**kwargs)
        self.attack = TRADESAttack(eps=eps, steps=steps, step_size=step_size, norm=norm)

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_adv = self.attack(self.model, x, y)
        logits, logits_adv = self(x), self(x_adv)
        robust = F.kl_div(
            F.log_softmax(logits_adv, dim=1), F.log_softmax(logits, dim=1), log_target=True, reduction="batchmean"
        )
        return self.criterion(logits, y) + self.hparams.beta * robust, logits
