"""APGD's ℓ1 schedule (Croce & Hein, "Mind the box: ℓ1-APGD for sparse adversarial attacks on image
classifiers", ICML 2021), which ``APGD(norm="l1")`` runs instead of its ℓ∞/ℓ2 schedule.

How it differs from APGD at ℓ∞ and ℓ2:

- **The step's sparsity adapts.** A step moves the gradient's sign on the ``⌊s·D⌋`` largest movable
  coordinates (``threat.L1Threat.step``), ``D = C·H·W``. ``s`` starts at ``ℓ0(δ_start) / (1.5·D)`` and
  is reset at every check to ``ℓ0(δ_best) / (1.5·D)``: the attack concentrates on as few pixels as
  its best point uses, and fewer still.
- **Checks every** ``max(⌊0.04·steps⌋, 1)`` **steps** (of the phase): where the best point's ℓ0 fell
  below 95 % of its value at the last check, the step size goes back to ε and the run restarts from
  its best point; elsewhere the step size shrinks by 1.5, kept within ``[ε/10, ε]``. The step size
  starts at ε.
- **No momentum**; every iterate is projected jointly onto the ℓ1 ball and the [0, 1] box
  (``threat.project_l1_ball`` with the box), from a Gaussian start projected the same way.
- **Three radii** (``large_radii``, as AutoAttack's standard ℓ1 version runs it): phases at 3ε, 2ε and
  ε with 30 %, 30 % and 40 % of the steps, each starting from the previous phase's best point
  projected onto its ball; only the last phase, at ε, counts successes.

Tensors: ``x`` ``[B, C, H, W]`` in [0, 1], ``y`` ``[B]``; the objective is maximised per sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import apply_mask, input_gradient, record_first_success, update_best
from .losses import success
from .threat import L1Threat

SPARSITY_SHRINK = 1.5  # s = ℓ0(δ_best) / (1.5·D)
STEP_SHRINK = 1.5  # the step size's decrease at a check where the best point did not get sparser
STEP_FLOOR = 0.1  # the step size never falls below ε/10


def phase_radii(eps: float, steps: int, large_radii: bool) -> list[tuple[float, int]]:
    """``[(radius, steps)]`` of the phases: ``(3ε, ⌈0.3·steps⌉), (2ε, ⌈0.3·steps⌉), (ε, the rest)``
    with ``large_radii``, or one phase ``(ε, steps)`` (also when ``steps`` is too few for three)."""
    early = math.ceil(0.3 * steps)
    if not large_radii or steps - 2 * early < 1:
        return [(eps, steps)]
    return [(3 * eps, early), (2 * eps, early), (eps, steps - 2 * early)]


def nonzero_count(delta: Tensor) -> Tensor:
    """``ℓ0`` of each sample of ``delta`` ``[B, ...]``: ``[B]`` float."""
    return (delta.flatten(1) != 0).sum(dim=1).to(delta.dtype)


def l1_apgd_run(
    model: nn.Module,
    x: Tensor,
    objective,
    y: Tensor,
    judge_target: Tensor | None,
    mask: Tensor | None,
    generator: torch.Generator | None,
    eps: float,
    steps: int,
    large_radii: bool = True,
    early_stop: bool = True,
    eot_samples: int = 1,
) -> tuple[Tensor, Tensor]:
    """One run of APGD-ℓ1 on ``x``; ``objective(logits, rows)`` is the per-sample objective of the
    rows ``rows`` of the batch. Returns ``(x_adv, score)`` as APGD's ℓ∞/ℓ2 run does: per sample its
    first successful point of the last phase (score +∞), else its best point (score: the objective)."""
    plan = phase_radii(eps, steps, large_radii)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    start = x + L1Threat(plan[0][0]).constrain(x, noise, mask)
    for phase, (radius, phase_steps) in enumerate(plan):
        last = phase == len(plan) - 1
        start, score, found, found_x = _phase(
            model, x, start, objective, y, judge_target if last else None, mask, L1Threat(radius), phase_steps,
            judged=last, early_stop=early_stop, eot_samples=eot_samples,
        )  # fmt: skip
    result = torch.where(found.view(-1, 1, 1, 1), found_x, start)
    return result, torch.where(found, torch.full_like(score, float("inf")), score)


def _phase(
    model, x, start, objective, y, judge_target, mask, threat: L1Threat, steps, judged, early_stop, eot_samples
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One phase at ``threat.eps`` from ``start``: ``(best point, its objective, found, first
    successful point)``; success is looked for only when ``judged`` (the phase at ε)."""
    everyone = slice(None)
    x_adv = x + threat.constrain(x, start - x, mask)
    grad, score, logits = input_gradient(model, x_adv, lambda z: objective(z, everyone), eot_samples)
    best_x, best_score, best_grad = x_adv.clone(), score.clone(), grad.clone()
    found = success(logits, y, judge_target) if judged else torch.zeros_like(y, dtype=torch.bool)
    found_x = x_adv.clone()

    size = x[0].numel()
    nonzero_at_check = nonzero_count(x_adv - x)
    sparsity = nonzero_at_check / (SPARSITY_SHRINK * size)
    step_size = torch.full((x.shape[0], 1, 1, 1), threat.eps, device=x.device, dtype=x.dtype)
    check_every = max(int(0.04 * steps), 1)
    skip_found = judged and early_stop
    for i in range(steps):
        delta = threat.step(x, x_adv - x, apply_mask(grad, mask), step_size, sparsity)
        x_adv = x + threat.constrain(x, delta, mask)
        # Found points return their first success whatever happens next: no more passes for them.
        rows = (~found).nonzero().squeeze(1) if skip_found else everyone
        if skip_found and rows.numel() == 0:
            break
        grad[rows], score[rows], logits = input_gradient(
            model, x_adv[rows], lambda z, r=rows: objective(z, r), eot_samples
        )
        if judged:
            record_first_success(found, found_x, x_adv, logits, rows, y, judge_target)
        update_best(best_x, best_grad, best_score, x_adv, grad, score)

        if (i + 1) % check_every == 0:
            nonzero = nonzero_count(best_x - x)
            sparser = nonzero < 0.95 * nonzero_at_check
            sparsity, nonzero_at_check = nonzero / (SPARSITY_SHRINK * size), nonzero
            shrunk = step_size / STEP_SHRINK
            step_size = torch.where(sparser.view(-1, 1, 1, 1), threat.eps, shrunk).clamp(
                STEP_FLOOR * threat.eps, threat.eps
            )
            x_adv[sparser], grad[sparser] = best_x[sparser], best_grad[sparser]
    return best_x, best_score, found, found_x
