"""Adversarial training: PGD-AT, fast AT (FGSM-RS), TRADES and MART, on ``ClassifierModule``'s base.

The attack of every step runs in eval mode on the current weights (``Attack`` restores the train
mode and leaves parameter gradients and BatchNorm statistics alone); the loss is then computed in
train mode, so BatchNorm statistics are updated by the training forward only.

Each module's ``training_loss`` finds ``x'`` with its attack and returns ``adversarial_loss(x, x', y)``;
``awp.py`` adds adversarial weight perturbation to that loss.

The radius ``eps`` defaults to the data's standard radius for ``norm`` (``attacks.radii.standard_eps``:
ℓ∞ 8/255 on CIFAR, SVHN and the synthetic benchmark, 0.3 on MNIST, 0.1 on Fashion-MNIST), known
once the Trainer's data module is (``RadiusFromData``); the inner step defaults to a fraction of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..attacks import PGD, Attack, TRADESAttack
from ..attacks.radii import standard_eps
from ..errors import UserInputError, check_range
from .classifier import ClassifierModule


class RadiusFromData:
    """Mixin for a module whose hyper-parameters hold ``eps`` and ``norm`` and whose ``build_attack``
    makes its training attack: with ``eps`` given, the attack is built at once; with ``eps`` None it
    is the data's standard radius for ``norm`` (``attacks.radii.standard_eps``), resolved in
    ``setup`` from the Trainer's data module and written into the hyper-parameters (the checkpoint
    records the radius trained at), and the attack is built then."""

    attack: Attack | None = None

    def build_attack_when_radius_known(self) -> None:
        if self.hparams.eps is not None:
            self.attack = self.build_attack()

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.hparams.eps is None:
            datamodule = getattr(self._trainer, "datamodule", None)  # ``self.trainer`` raises when detached
            if datamodule is None:
                raise UserInputError(
                    f"{type(self).__name__} without eps trains at the data's standard radius: pass the data "
                    "module to the Trainer (or give eps)"
                )
            self.hparams.eps = standard_eps(datamodule, self.hparams.norm)
            self.attack = self.build_attack()


class PGDATModule(RadiusFromData, ClassifierModule):
    """PGD adversarial training (Madry et al., ICLR 2018): minimise ``CE(f(x + δ*), y)`` with ``δ*``
    from PGD on the current model. Logs ``train/acc`` on the adversarial batch.

    Args:
        eps: ε of the threat model, in pixels (default: the data's standard radius for ``norm``,
            ``RadiusFromData``; literature: ℓ∞ 8/255 on CIFAR-size data).
        steps: PGD iterations (literature: 10).
        step_size: PGD step (default ``2.5·eps/steps``: 2/255 at ℓ∞ 8/255 with 10 steps, as in the
            literature).
        norm: ``linf``, ``l2`` or ``l1``.
        random_start: start uniformly in the ε-ball.
        attack_loss: the attack's objective, ``ce`` (Madry; what ``None`` means) or ``cw`` (margin).
        **kwargs: see ``ClassifierModule``.
    """

    selection_metric = "val/robust_acc"  # robust accuracy under ``RobustEvalCallback``, on validation

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 10,
        step_size: float | None = None,
        norm: str = "linf",
        random_start: bool = True,
        attack_loss: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.build_attack_when_radius_known()

    def build_attack(self) -> Attack:
        return self.inner_pgd(loss=self.hparams.attack_loss or "ce")

    def inner_pgd(self, **settings) -> PGD:
        """A PGD with the module's inner budget (``eps``, ``steps``, ``step_size``, ``norm``,
        ``random_start``) and ``settings`` (loss, seed, ...)."""
        h = self.hparams
        return PGD(
            eps=h.eps, steps=h.steps, step_size=self.inner_step(), norm=h.norm, random_start=h.random_start, **settings
        )

    def inner_step(self) -> float | None:
        """The inner step: ``step_size`` (None: PGD's ``2.5·eps/steps``)."""
        return self.hparams.step_size

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.adversarial_loss(x, self.attack(self.model, x, y), y)

    def adversarial_loss(self, x: Tensor, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(CE(f(x'), y), f(x'))``, in train mode."""
        logits = self(x_adv)
        return self.criterion(logits, y), logits


class FastATModule(PGDATModule):
    """Fast adversarial training ("Fast is better than free", Wong et al., ICLR 2020): PGD-AT with
    one FGSM step of ``1.25·ε`` (``step_size`` None; 10/255 at 8/255) from a uniform random start
    (FGSM-RS). Arguments as ``PGDATModule``.
    """

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 1,
        step_size: float | None = None,
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

    def inner_step(self) -> float:
        """FGSM-RS's step: ``1.25·eps`` unless ``step_size`` is given."""
        return self.hparams.step_size if self.hparams.step_size is not None else 1.25 * self.hparams.eps


class TRADESModule(RadiusFromData, ClassifierModule):
    """TRADES (Zhang et al., ICML 2019): minimise ``CE(f(x), y) + β·KL(p(x) ‖ p(x'))`` with ``x'``
    maximising the KL in the ε-ball (``TRADESAttack``). Both forwards run in train mode, as in the
    reference implementation; ``train/acc`` is measured on the clean batch.

    Args:
        beta: β, the weight of the robustness term (TRADES: 6).
        eps: radius of the inner maximisation (default: the data's standard radius, as in
            ``PGDATModule``; TRADES: 8/255).
        steps: its steps (TRADES: 10).
        step_size: its step (default ``2.5·eps/steps``; TRADES: 2/255 at 8/255).
        norm: its norm (TRADES: ℓ∞).
        **kwargs: see ``ClassifierModule``.
    """

    selection_metric = "val/robust_acc"  # robust accuracy under ``RobustEvalCallback``, on validation

    def __init__(
        self,
        beta: float = 6.0,
        eps: float | None = None,
        steps: int = 10,
        step_size: float | None = None,
        norm: str = "linf",
        **kwargs,
    ) -> None:
        check_range("beta", beta, low=0)
        super().__init__(**kwargs)
        self.build_attack_when_radius_known()

    def build_attack(self) -> Attack:
        h = self.hparams
        return TRADESAttack(eps=h.eps, steps=h.steps, step_size=h.step_size, norm=h.norm)

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.adversarial_loss(x, self.attack(self.model, x, y), y)

    def adversarial_loss(self, x: Tensor, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(CE(f(x), y) + β·KL(p(x) ‖ p(x')), f(x))``, both forwards in train mode."""
        logits, logits_adv = self(x), self(x_adv)
        robust = F.kl_div(
            F.log_softmax(logits_adv, dim=1), F.log_softmax(logits, dim=1), log_target=True, reduction="batchmean"
        )
        return self.criterion(logits, y) + self.hparams.beta * robust, logits


class MARTModule(PGDATModule):
    """MART (Wang et al., "Improving Adversarial Robustness Requires Revisiting Misclassified
    Examples", ICLR 2020): PGD-AT (cross-entropy attack) whose loss boosts the adversarial margin and
    weighs a KL term by how badly the clean sample is classified. Per sample, with ``p = p(x)``,
    ``p' = p(x')`` (softmax ``[B, K]``) and ``k* = argmax_{k≠y} p'_k``:

        BCE  = −log p'_y − log(1 − p'_{k*})                      (boosted cross-entropy)
        L    = mean_B [ BCE + λ · KL(p ‖ p') · (1 − p_y) ]

    Both forwards run in train mode, as in the reference implementation; ``train/acc`` is measured
    on the adversarial batch. ``1e-12`` inside the logarithms keeps them finite when a probability
    saturates (our constant; the reference implementation writes ``log(1.0001 − p'_{k*} + 1e-12)``
    and ``1.0000001 − p_y``, we keep the paper's ``1 − ·``).

    Args:
        beta: λ, the weight of the misclassification-aware KL term (MART: 6 on CIFAR-10, ResNet-18).
        eps: the inner PGD's radius, as in ``PGDATModule`` (MART: ℓ∞ 8/255).
        steps: the inner PGD's steps (MART: 10).
        step_size: the inner PGD's step (MART: 2/255).
        norm: the inner PGD's norm.
        random_start: the inner PGD's random start.
        attack_loss: the inner PGD's loss (MART: cross-entropy).
        **kwargs: see ``ClassifierModule``.
    """

    def __init__(self, beta: float = 6.0, **kwargs) -> None:
        check_range("beta", beta, low=0)
        super().__init__(**kwargs)

    def adversarial_loss(self, x: Tensor, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits, logits_adv = self(x), self(x_adv)
        return mart_loss(logits, logits_adv, y, self.hparams.beta), logits_adv


def mart_loss(logits: Tensor, logits_adv: Tensor, y: Tensor, beta: float) -> Tensor:
    """MART's loss (see ``MARTModule``) from clean and adversarial logits ``[B, K]`` and labels ``[B]``."""
    p, p_adv = F.softmax(logits, dim=1), F.softmax(logits_adv, dim=1)
    others = p_adv.scatter(1, y[:, None], -1.0)  # the true class out of the running for the runner-up
    runner_up = others.max(dim=1).values
    tiny = 1e-12
    boosted = F.cross_entropy(logits_adv, y, reduction="none") - torch.log(1 - runner_up + tiny)
    kl = (p * (torch.log(p + tiny) - torch.log(p_adv + tiny))).sum(dim=1)
    p_true = p.gather(1, y[:, None]).squeeze(1)
    return (boosted + beta * kl * (1 - p_true)).mean()
