"""A robust-accuracy evaluation run as a cascade: each attack works only on the samples that every
attack before it left robust, as AutoAttack runs its attacks; a stage may also be kept for the
samples that earlier stages brought close to the decision boundary (``near``).

The worst case over a cascade's attacks is the worst case over the same attacks each run on every
sample, as far as each attack's result on a sample does not depend on the other samples of its
batch (our attacks' per-sample early stopping makes that so); the cascade only saves the work on
samples already broken. A ``near`` gate saves more, by giving up on samples far from the boundary:
it is a rule that can cost strength, so the project measures it against AutoAttack on models it
was not tuned on (benchmarks/README.md, "A tenth of AutoAttack's cost").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import UserInputError, check_range
from ..models.passes import PassCount
from .base import Attack, AttackResult
from .losses import margin


def boundary_margin(logits: Tensor, y: Tensor) -> Tensor:
    """``[B]`` how far each sample is from being misclassified, free of the logits' scale and shift:
    ``(Z_y − max_{j≠y} Z_j) / (z_π1 − z_π3)``, ``z_π`` the logits sorted descending (the negated
    untargeted DLR of Croce & Hein 2020). For a correctly classified sample it lies in (0, 1]
    (``π1 = y``; 1 when the runner-up ties with the third class), and it is negative once the
    sample is misclassified. Needs at least 3 classes; ``logits`` ``[B, K]``, ``y`` ``[B]``."""
    top = logits.topk(3, dim=1).values
    return margin(logits, y) / (top[:, 0] - top[:, 2]).clamp_min(1e-12)


class Cascade(Mapping[str, Attack]):
    """Attacks in the order a cascade runs them (a read-only ``name → Attack`` mapping), each with
    an optional gate.

    Args:
        stages: name → attack, in order.
        near: name → threshold: that stage attacks only the still-robust samples whose smallest
            ``boundary_margin`` at the points earlier stages returned is at most the threshold
            (the first stage has no earlier point: it cannot be gated). Stages not named attack
            every still-robust sample.
    """

    def __init__(self, stages: Mapping[str, Attack], near: Mapping[str, float] | None = None) -> None:
        self.stages = dict(stages)
        self.near = dict(near or {})
        names = list(self.stages)
        for name, threshold in self.near.items():
            if name not in self.stages:
                raise UserInputError(f"cascade gate for {name!r}, which is no stage of {names}")
            if name == names[0]:
                raise UserInputError(f"the first stage ({name!r}) has no earlier points to be gated by")
            check_range(f"near[{name!r}]", threshold, low=0)

    def __getitem__(self, name: str) -> Attack:
        return self.stages[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def cheapest(self) -> Cascade:
        """The same cascade with every attack at its smallest budget (``Attack.cheapest``)."""
        return Cascade(Attack.all_cheapest(self.stages), self.near)


@dataclass
class StageOutcome:
    """What one stage of a cascade did on a batch of ``B`` samples.

    ``attacked``: ``[B]`` bool, the samples it worked on; ``broken``: ``[B]`` bool, those it broke
    (within its radius); ``result``: its ``AttackResult`` on the attacked samples (None when it
    attacked none), which holds what the stage cost (``passes``, ``seconds``); ``closest``: ``[B]``
    each sample's smallest ``boundary_margin`` at the points this stage and every earlier one
    returned (``inf`` where none attacked it), what the next stage's gate reads."""

    attacked: Tensor
    broken: Tensor
    result: AttackResult | None
    closest: Tensor

    @property
    def passes(self) -> PassCount:
        return self.result.passes if self.result is not None else PassCount()

    @property
    def seconds(self) -> float:
        return self.result.seconds if self.result is not None else 0.0


def run_cascade(
    model: nn.Module, x: Tensor, y: Tensor, robust: Tensor, cascade: Cascade, held
) -> dict[str, StageOutcome]:
    """Run ``cascade`` on the samples ``robust`` (``[B]`` bool; the correctly classified ones).

    Stage ``k`` attacks the samples no earlier stage broke and, where it is gated, whose smallest
    ``boundary_margin`` so far is at most its ``near``; ``held(attack, result, y) -> [b] bool`` says
    which attacked samples the attack left robust (a bounded attack's success, an unbounded one's
    success within its radius). ``x`` ``[B, C, H, W]``, ``y`` ``[B]``. The model's mode and state are
    the attacks' to keep (each restores them)."""
    robust = robust.clone()
    closest = torch.full(y.shape, float("inf"), device=y.device)
    outcomes = {}
    for name, attack in cascade.items():
        attacked = robust.clone()
        if name in cascade.near:
            attacked &= closest <= cascade.near[name]
        broken = torch.zeros_like(robust)
        idx = attacked.nonzero().squeeze(1)
        result = None
        if idx.numel():
            result = attack.run(model, x[idx], y[idx])
            kept = held(attack, result, y[idx])
            broken[idx[~kept]] = True
            # With fewer than 3 classes there is no scale to judge closeness by: gates let all through.
            near = boundary_margin(result.logits, y[idx]) if result.logits.shape[1] >= 3 else -torch.inf
            closest[idx] = torch.minimum(closest[idx], torch.as_tensor(near, device=y.device))
        robust &= ~broken
        outcomes[name] = StageOutcome(attacked, broken, result, closest.clone())
    return outcomes
