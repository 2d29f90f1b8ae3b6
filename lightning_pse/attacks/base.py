"""The attack base class: the cross-cutting work every attack shares.

``attack(model, x, y, target=None, mask=None) -> x_adv`` and ``attack.run(...) -> AttackResult``.
The base class owns, for every attack:

- **mode safety**: the model runs in eval mode during the attack and every module's exact prior
  ``training`` flag is restored afterwards, also when the attack raises; BatchNorm statistics are
  never updated (eval mode) and parameter ``.grad`` is never touched (gradients are taken with
  ``torch.autograd.grad`` with respect to the input only);
- **gradients on** even under ``torch.no_grad()``; inside ``torch.inference_mode()``, which cannot
  be left from inside, a clear error naming ``Trainer(inference_mode=False)``;
- **input checks**: ``x`` ``[B, C, H, W]`` finite and in [0, 1], labels ``[B]``;
- **full precision**: autocast (mixed-precision training) is switched off inside, so gradients
  and margins are float32 whatever the Trainer's ``precision``;
- **device and dtype** taken from ``x``; ``seed`` makes random starts reproducible;
- **support masks**: ``mask`` (``[B, H, W]``, ``[B, 1, H, W]`` or ``[H, W]``, bool or 0/1) is
  broadcast over channels and the returned ``x_adv`` equals ``x`` exactly outside it;
- **targets**: a targeted attack called without ``target`` picks one with ``target_rule``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..data.datasets import check_images
from ..errors import UserInputError
from ..models.passes import PassCount, counting_passes
from ..models.state import eval_mode, full_precision
from ..progress import attack_task, step_done
from .losses import attack_margin, success
from .targets import TARGET_RULES, select_targets


@dataclass
class AttackResult:
    """What an attack produced, per sample (all tensors on ``x``'s device).

    ``success``: the adversarial prediction is the target (targeted) or not ``y`` (untargeted).
    ``margin``: signed distance to success, negative on success (see ``losses.attack_margin``).
    ``l0``: perturbed pixel positions (any channel); ``l1``/``l2``/``linf``: norms of ``δ``.
    ``passes``: the forward and backward image-passes the run cost (``models.passes``; the final
    evaluation of ``x_adv`` included), for the whole batch; ``seconds``: its wall time.
    """

    x_adv: Tensor
    logits: Tensor
    success: Tensor
    margin: Tensor
    target: Tensor | None
    l0: Tensor
    l1: Tensor
    l2: Tensor
    linf: Tensor
    passes: PassCount = field(default_factory=PassCount)
    seconds: float = 0.0

    @property
    def aim(self) -> Tensor:
        """``[B]`` the class the attack drove each sample to: the target of a targeted attack, else
        the prediction on ``x_adv`` (``t`` of ``docs/method.md``)."""
        return self.target if self.target is not None else self.logits.argmax(dim=1)

    @classmethod
    def measure(cls, x: Tensor, x_adv: Tensor, logits: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        delta = (x_adv - x).flatten(2)  # [B, C, H*W]
        return cls(
            x_adv=x_adv,
            logits=logits,
            success=success(logits, y, target),
            margin=attack_margin(logits, y, target),
            target=target,
            l0=(delta != 0).any(dim=1).sum(dim=1),
            l1=delta.abs().sum(dim=(1, 2)),
            l2=delta.flatten(1).norm(dim=1),
            linf=delta.abs().amax(dim=(1, 2)),
        )


def input_gradient(model: nn.Module, x: Tensor, objective, samples: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """``(∇_x Σ_b f_b, f [B], logits)`` for a per-sample objective ``f = objective(logits)``;
    only the input gets a gradient (parameter ``.grad`` untouched). One step of the attack's progress.

    ``samples > 1``: expectation over transformation (EOT, Athalye et al. 2018) for a randomized
    model: gradient, objective and logits are each the mean over ``samples`` forward passes
    (``E[∇f]``, as AutoAttack's ``rand`` version averages its gradients).
    """
    x = x.detach().requires_grad_(True)
    total = None
    for _ in range(samples):
        logits = model(x)
        values = objective(logits)
        (grad,) = torch.autograd.grad(values.sum(), x)
        one = (grad, values.detach(), logits.detach())
        total = one if total is None else tuple(a + b for a, b in zip(total, one))
    step_done()
    return total if samples == 1 else tuple(t / samples for t in total)


def broadcast_mask(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """A support mask as ``x.dtype`` ``[B, 1, H, W]`` (1 = may be perturbed), or ``None``."""
    if mask is None:
        return None
    b, _, h, w = x.shape
    mask = mask.to(device=x.device)
    if mask.dim() == 2 and mask.shape == (h, w):
        mask = mask.expand(b, h, w)
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.shape != (b, 1, h, w):
        raise UserInputError(
            f"mask of shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}: "
            "use [B, H, W], [B, 1, H, W] or [H, W]"
        )
    return (mask != 0).to(x.dtype)


def apply_mask(delta: Tensor, mask: Tensor | None) -> Tensor:
    return delta if mask is None else delta * mask


# The settings ``Attack.cheapest`` lowers, to these values (an attack lacking one keeps what it has).
SMALLEST_BUDGET = {
    "steps": 2,
    "restarts": 1,
    "n_target_classes": 1,
    "binary_search_steps": 1,
    "n_queries": 2,
    "refine_steps": 1,
    "odi_steps": 1,
    "extended_steps": 2,
}


class Attack:
    """Base class. Subclasses implement ``perturb(model, x, y, target, mask) -> x_adv`` and may
    assume: eval mode, gradients enabled, checked inputs, ``mask`` as ``[B, 1, H, W]`` or None,
    ``target`` given iff the attack is targeted (unless ``picks_own_targets``).

    Args:
        targeted: aim at ``target`` (else: any wrong class).
        target_rule: how to choose targets when a targeted attack gets none (``random``,
            ``least_likely``, ``most_likely``; see ``targets.select_targets``).
        seed: seed for random starts and random targets (``None``: the global RNG).
    """

    # Declared traits: callers ask these instead of testing the class.
    picks_own_targets = False  # APGD-T cycles over the top classes when given no target
    bounded = True  # the perturbation stays in the ε-ball of ``norm`` (C&W, EAD, StrAttack: minimal, unbounded)
    uses_gradients = True  # False for score-based (black-box) attacks such as Square
    norm = "linf"  # the ε-ball's norm (bounded attacks set it per instance); unbounded: the norm they minimise
    # Forward passes averaged per gradient (EOT) by the attacks that step along ``input_gradient``
    # (PGD, APGD, StrAttack); 1 for a deterministic model. ``randomness.use_eot`` sets it.
    eot_samples = 1

    def __init__(self, targeted: bool = False, target_rule: str = "random", seed: int | None = None) -> None:
        if target_rule not in TARGET_RULES:
            raise UserInputError(f"unknown target_rule {target_rule!r}; choose one of {', '.join(TARGET_RULES)}")
        self.targeted = targeted
        self.target_rule = target_rule
        self.seed = seed

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        raise NotImplementedError

    def budget(self) -> int:
        """The most gradient steps (or queries) one call takes: the length of its progress bar.
        Subclasses count theirs (steps × restarts × target classes …); the base class knows none."""
        return 1

    def cheapest(self) -> Attack:
        """A copy at the smallest budget this attack's settings allow (``SMALLEST_BUDGET``: two
        steps, one restart, one target class, one constant of the binary search, two queries),
        everything else unchanged: for smoke runs (``fast_dev_run``, ``analyze --quick``) that check
        that the work runs, not how strong it is. The original is left as it was."""
        copy = self.__class__.__new__(self.__class__)
        copy.__dict__.update(self.__dict__)
        for name, smallest in SMALLEST_BUDGET.items():
            if isinstance(getattr(copy, name, None), int):
                setattr(copy, name, min(getattr(copy, name), smallest))
        return copy

    @staticmethod
    def all_cheapest(attacks: Mapping[str, Attack]) -> Mapping[str, Attack]:
        """``name → attack.cheapest()`` for every attack of ``attacks`` (a section's or a preset's);
        a ``Cascade`` stays a cascade with its gates (its own ``cheapest``)."""
        if hasattr(attacks, "cheapest"):
            return attacks.cheapest()
        return {name: attack.cheapest() for name, attack in attacks.items()}

    def check_classes(self, num_classes: int) -> None:
        """Refuse, as a ``UserInputError``, a model with too few classes for this attack (any attack
        needs a wrong class to move to; subclasses with class-hungry losses ask for more)."""
        if num_classes < 2:
            raise UserInputError(f"{type(self).__name__} needs a model with at least 2 classes, it has {num_classes}")

    def generator(self, device: torch.device) -> torch.Generator | None:
        """A fresh generator seeded with ``seed`` (the same random draws on every call), or None."""
        if self.seed is None:
            return None
        return torch.Generator(device=device).manual_seed(self.seed)

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return self._attack(model, x, y, target, mask)[0]

    def run(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None, mask: Tensor | None = None
    ) -> AttackResult:
        """The attack plus its per-sample outcome (success, margin, ℓ0/ℓ1/ℓ2/ℓ∞ of ``δ``) and the
        passes through ``model`` it cost, and its wall time."""
        start = time.perf_counter()
        with counting_passes(model) as passes:
            x_adv, target = self._attack(model, x, y, target, mask)
            with eval_mode(model), torch.no_grad():
                logits = model(x_adv)
        result = AttackResult.measure(x.detach(), x_adv, logits, y.to(x.device), target)
        result.passes, result.seconds = passes, time.perf_counter() - start
        return result

    def _attack(self, model, x, y, target, mask) -> tuple[Tensor, Tensor | None]:
        x, y, target = self._check_inputs(x, y, target)
        mask = broadcast_mask(mask, x)
        with eval_mode(model), full_precision(x.device):
            if self.targeted and target is None and not self.picks_own_targets:
                with torch.no_grad():
                    logits = model(x)
                target = select_targets(self.target_rule, logits, y, self.generator(x.device))
            with attack_task(f"{self.describe()} on {x.shape[0]} images", self.budget()):
                x_adv = self.perturb(model, x, y, target if self.targeted else None, mask).detach()
        if mask is not None:  # exactly x outside the support, whatever the arithmetic did
            x_adv = torch.where(mask.bool(), x_adv, x)
        return x_adv, target if self.targeted else None

    @staticmethod
    def _check_inputs(x: Tensor, y: Tensor, target: Tensor | None):
        check_images(x)
        y = y.to(device=x.device, dtype=torch.long)
        if y.shape != (x.shape[0],):
            raise UserInputError(f"labels must be [B] = [{x.shape[0]}], got {tuple(y.shape)}")
        if target is not None:
            target = target.to(device=x.device, dtype=torch.long)
            if target.shape != y.shape:
                raise UserInputError(f"targets must be [B] = [{x.shape[0]}], got {tuple(target.shape)}")
        return x.detach(), y, target

    def describe(self) -> str:
        """``PGD(ℓ∞ ε=0.0314, 10 steps, targeted)``: the class, its ball and budget in a few words."""
        norm = {"linf": "ℓ∞", "l2": "ℓ2", "l1": "ℓ1"}.get(self.norm, self.norm)
        budget = [f"{norm} ε={self.eps:.4g}" if self.bounded else f"minimal {norm}"]
        budget += [f"{self.steps} steps"] if hasattr(self, "steps") else []
        budget += ["targeted"] if self.targeted else []
        return f"{type(self).__name__}({', '.join(budget)})"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def record_first_success(
    found: Tensor, found_x: Tensor, x_adv: Tensor, logits: Tensor, rows, y: Tensor, judge_target: Tensor | None
) -> None:
    """In place: the samples ``rows`` of the batch whose ``logits`` (of ``x_adv[rows]``) succeed for the
    first time get ``found`` set and ``found_x`` = their ``x_adv`` (a run returns a point's first
    success). ``found`` ``[B]`` bool, ``found_x`` and ``x_adv`` ``[B, C, H, W]``."""
    hit = torch.zeros_like(found)
    hit[rows] = success(logits, y[rows], None if judge_target is None else judge_target[rows])
    hit &= ~found
    found_x[hit] = x_adv[hit]
    found |= hit


def update_best(
    best_x: Tensor, best_grad: Tensor, best_score: Tensor, x_adv: Tensor, grad: Tensor, score: Tensor
) -> None:
    """In place: the samples whose ``score`` ``[B]`` beats ``best_score`` take their ``x_adv``, ``grad``
    (``[B, C, H, W]``) and ``score`` as the run's best point (APGD's bookkeeping)."""
    improved = score > best_score
    best_x[improved], best_grad[improved], best_score[improved] = x_adv[improved], grad[improved], score[improved]


def keep_better(
    best_x: Tensor | None,
    best_success: Tensor | None,
    best_score: Tensor | None,
    x_new: Tensor,
    success_new: Tensor,
    score_new: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample worst case over restarts: prefer success, then the higher objective ``score``."""
    if best_x is None:
        return x_new, success_new, score_new
    better = (success_new & ~best_success) | ((success_new == best_success) & (score_new > best_score))
    return (
        torch.where(better.view(-1, 1, 1, 1), x_new, best_x),
        best_success | success_new,
        torch.where(better, score_new, best_score),
    )
