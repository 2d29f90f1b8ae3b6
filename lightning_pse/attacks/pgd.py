"""Projected gradient descent and the fast gradient sign method."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import check_range
from .base import Attack, apply_mask, input_gradient, keep_better
from .losses import check_dlr_classes, objective, success
from .threat import resolve_eps, threat_model


class PGD(Attack):
    """Projected Gradient Descent (Madry et al., "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018).

    Distance: ℓ∞, ℓ2 or ℓ1. Each step moves ``δ`` along the steepest-ascent direction of the
    objective for the norm (``sign(∇)`` for ℓ∞, ``∇/‖∇‖₂`` for ℓ2, a sparse sign step for ℓ1: see
    ``threat.L1Threat``), then projects onto the ε-ball, the support ``mask`` and the image box [0, 1].

    Args:
        eps: radius (default 8/255 for ℓ∞, 0.5 for ℓ2, 12 for ℓ1).
        steps: iterations (default 10).
        step_size: step length (default ``2.5·eps/steps``, Madry et al.; 2/255 for ℓ∞ 8/255, 10 steps).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        targeted: maximise the target class instead of leaving the true one.
        random_start: start uniformly in the ε-ball (ℓ∞) or at a random radius (ℓ2, ℓ1).
        restarts: independent runs; after the first, only samples not yet fooled are attacked
            again, and each keeps its worst case (success first, then objective).
        loss: ``"ce"`` (cross-entropy), ``"cw"`` (C&W margin) or ``"dlr"`` (needs ≥ 4 classes);
            from Python also a callable ``f(logits, y, target) -> [B]`` to maximise.
        early_stop: a sample stops at the first point that fools the model and costs no further
            gradient steps (for robust accuracy: it can only find more adversarial points than
            judging the last iterate). Off by default, where the last iterate is returned.
        seed: see ``Attack``.
        target_rule: see ``Attack``.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1], ``y`` and ``target`` ``[B]``, ``mask`` ``[B, H, W]``;
    returns ``x_adv`` like ``x``.

    Example::

        x_adv = PGD(eps=8/255, steps=20)(model, x, y)
    """

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 10,
        step_size: float | None = None,
        norm: str = "linf",
        targeted: bool = False,
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        early_stop: bool = False,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        self.eps = resolve_eps(eps, norm)
        check_range("steps", steps, low=1)
        check_range("restarts", restarts, low=1)
        self.steps = steps
        self.step_size = step_size if step_size is not None else 2.5 * self.eps / steps
        check_range("step_size", self.step_size, low=0)
        self.norm = norm
        self.random_start = random_start
        self.restarts = restarts
        self.loss = loss
        self.early_stop = early_stop
        # Derived from the settings above (private: two attacks with equal settings are equal).
        self._threat = threat_model(norm, self.eps)
        self._loss_objective = objective(loss, targeted)

    def budget(self) -> int:
        return self.steps * self.restarts

    def check_classes(self, num_classes: int) -> None:
        super().check_classes(num_classes)
        if self.loss == "dlr":
            check_dlr_classes(num_classes)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        generator = self.generator(x.device)
        f = lambda logits, i=slice(None), step=None: self.step_objective(step)(
            logits, y[i], None if target is None else target[i]
        )  # noqa: E731
        fooled = (
            (lambda logits, i: success(logits, y[i], None if target is None else target[i]))
            if self.early_stop
            else None
        )
        x_adv = self._single_run(model, x, f, mask, generator, fooled)
        if self.restarts == 1:
            return x_adv
        # Further restarts attack only the samples not fooled yet; each keeps its worst case.
        with torch.no_grad():
            logits = model(x_adv)
        best_x, best_success, best_score = x_adv, success(logits, y, target), f(logits)
        for _ in range(self.restarts - 1):
            idx = (~best_success).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            f_idx = lambda logits, i=slice(None), step=None, idx=idx: f(logits, idx[i], step)  # noqa: E731
            fooled_idx = (lambda logits, i, idx=idx: fooled(logits, idx[i])) if fooled else None
            x_new = self._single_run(model, x[idx], f_idx, None if mask is None else mask[idx], generator, fooled_idx)
            with torch.no_grad():
                logits = model(x_new)
            ok = success(logits, y[idx], None if target is None else target[idx])
            best_x[idx], best_success[idx], best_score[idx] = keep_better(
                best_x[idx], best_success[idx], best_score[idx], x_new, ok, f_idx(logits)
            )
        return best_x

    def step_objective(self, step: int | None) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
        """The per-sample objective ``f(logits, y, target) -> [B]`` that ascent step ``step`` (0-based)
        maximises, and that judges restarts (``step=None``): ``loss`` throughout."""
        return self._loss_objective

    def initial_delta(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Where a run starts: uniform in the ε-ball with ``random_start``, else at ``x``."""
        return self._threat.random_start(x, generator) if self.random_start else torch.zeros_like(x)

    def _single_run(self, model, x, f, mask, generator, fooled=None) -> Tensor:
        """One run from ``initial_delta``: ``steps`` ascent steps on ``f(logits, rows, step)`` (``rows``
        index the batch). With ``fooled(logits, rows) -> [n]`` bool, a sample whose current point
        fools the model keeps that point and leaves the forward/backward passes."""
        delta = self._threat.constrain(x, self.initial_delta(x, generator), mask)
        rows = torch.arange(x.shape[0], device=x.device) if fooled else slice(None)
        for step in range(self.steps):
            x_rows, mask_rows = x[rows], None if mask is None else mask[rows]
            grad, _, logits = input_gradient(
                model, x_rows + delta[rows], lambda z, r=rows, k=step: f(z, r, k), self.eot_samples
            )
            stepped = self._threat.constrain(
                x_rows, self._threat.step(x_rows, delta[rows], apply_mask(grad, mask_rows), self.step_size), mask_rows
            )
            if fooled is None:
                delta = stepped
                continue
            going = ~fooled(logits, rows)
            delta[rows[going]] = stepped[going]
            rows = rows[going]
            if rows.numel() == 0:
                break
        return x + delta


class FGSM(PGD):
    """Fast Gradient Sign Method (Goodfellow et al., ICLR 2015): one step of length ``eps``.

    With ``random_start=True`` it is FGSM-RS of "Fast is better than free" (Wong et al., ICLR
    2020): a uniform start in the ε-ball and one step of ``1.25·eps``, then projection; the
    attack of fast adversarial training.

    Args:
        eps: radius (default 8/255 for ℓ∞).
        norm: ``"linf"`` (FGSM) or ``"l2"`` (fast gradient method).
        random_start: FGSM-RS (default False).
        step_size: default ``eps``, or ``1.25·eps`` with a random start.
        targeted: as in ``PGD``.
        loss: as in ``PGD``.
        seed: as in ``PGD``.
        target_rule: as in ``PGD``.

    Example::

        x_adv = FGSM(eps=8/255)(model, x, y)
    """

    def __init__(
        self,
        eps: float | None = None,
        norm: str = "linf",
        targeted: bool = False,
        random_start: bool = False,
        step_size: float | None = None,
        loss: str = "ce",
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        eps = resolve_eps(eps, norm)
        if step_size is None:
            step_size = 1.25 * eps if random_start else eps
        super().__init__(
            eps=eps,
            steps=1,
            step_size=step_size,
            norm=norm,
            targeted=targeted,
            random_start=random_start,
            restarts=1,
            loss=loss,
            seed=seed,
            target_rule=target_rule,
        )
