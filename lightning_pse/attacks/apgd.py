"""Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020): APGD-CE and APGD-T (targeted DLR); at ℓ1 the schedule of
APGD-ℓ1 (``apgd_l1``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import UserInputError, check_range
from .apgd_l1 import l1_apgd_run, phase_radii
from .base import Attack, apply_mask, input_gradient, keep_better, record_first_success, update_best
from .losses import check_dlr_classes, objective, success
from .threat import resolve_eps, threat_model


def checkpoints(steps: int) -> list[int]:
    """Iterations after which APGD may halve its step size: the first after
    ``k = ⌊0.22·steps⌋`` iterations, then every ``k`` iterations with ``k`` shrinking by
    ``⌊0.03·steps⌋`` down to ``⌊0.06·steps⌋`` (each at least 1) — AutoAttack's integer form of
    ``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``, ``p_1 = 0.22``.
    """
    k = max(int(0.22 * steps), 1)
    decrease, minimum = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    marks, at = [], k
    while at <= steps:
        marks.append(at)
        k = max(k - decrease, minimum)
        at += k
    return marks


class APGD(Attack):
    """Auto-PGD: PGD with momentum (α = 0.75) whose step size, starting at ``2ε``, is halved at
    the checkpoints of ``checkpoints(steps)`` for every sample where (1) fewer than a fraction
    ``rho`` of the steps since the last checkpoint increased the objective, or (2) the step size
    was not halved at the last checkpoint and the best objective did not improve since; such
    samples restart from their best point. The best point (highest objective) is returned, or
    the first point that succeeded.

    APGD-CE is ``APGD(loss="ce")``; APGD-T is ``APGD(loss="dlr", targeted=True)``: without a
    ``target`` it runs once per target among the ``n_target_classes`` highest-scoring other
    classes (AutoAttack's APGD-T) and success means misclassification; with a ``target`` it aims
    at it and success means reaching it. DLR needs at least 4 classes (a clear error otherwise).
    As in AutoAttack, only points not yet fooled are attacked (a sample the model already gets
    wrong is returned unchanged), and each further restart or target attacks the rest. Within a
    run, a point stops costing forward/backward passes at the step it is fooled (``early_stop``,
    default on): the run returns its first successful point anyway, so the result is the same.

    Args:
        eps: radius (default 8/255 for ℓ∞, 0.5 for ℓ2, 12 for ℓ1).
        steps: iterations per run (default 100).
        norm: ``"linf"``, ``"l2"`` or ``"l1"`` (ℓ1: APGD-ℓ1's schedule, ``attacks.apgd_l1``: sparse
            steps whose sparsity adapts, no momentum, joint projection onto the ℓ1 ball and the box;
            ``rho`` has no role there).
        loss: ``"ce"``, ``"cw"`` or ``"dlr"``.
        targeted: see above.
        restarts: random restarts (default 1); each sample keeps its worst case.
        odi_steps: output-diversified initialisation (ODI, Tashiro et al. 2020) before each run:
            from the random start, this many steps of size ε (ℓ∞: signed; ℓ2: normalised) that
            maximise ``w·logits`` for a direction ``w ~ U[−1, 1]^K`` drawn per sample and run, so
            that restarts begin in diverse places of the output space rather than only of the input
            (default 0: the random start alone; not at ℓ1). Each costs one forward and backward pass.
        n_target_classes: targets tried by APGD-T without a given target (default 9).
        extended_targets: APGD-T without a given target: after its runs toward the
            ``n_target_classes`` targets, this many further runs of ``extended_steps`` steps on the
            samples still robust, the ``r``-th toward each sample's target whose runs reached the
            ``r``-th highest objective (targeted DLR, comparable across targets), so a short run
            toward every class ranks them and the long runs go where a short one came closest (**our
            choice**, ``docs/method.md`` §6; default 0: none).
        extended_steps: iterations of each extended run (default 100).
        rho: the fraction of increasing steps below which the step size is halved (default 0.75).
        large_radii: at ℓ1, spend 30 % and 30 % of the steps at radii 3ε and 2ε before 40 % at ε,
            as AutoAttack's standard ℓ1 version does (default on; no effect at ℓ∞ and ℓ2).
        early_stop: skip the gradient work of points already fooled (same result; off only to
            measure the saving).
        seed: see ``Attack``.
        target_rule: unused (APGD-T picks its own target classes).

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1]; ``y``, ``target`` ``[B]``; returns ``x_adv``.

    Example::

        x_adv = APGD(eps=8/255, loss="ce")(model, x, y)           # APGD-CE
        x_adv = APGD(eps=8/255, loss="dlr", targeted=True)(model, x, y)  # APGD-T
    """

    picks_own_targets = True

    def __init__(
        self,
        eps: float | None = None,
        steps: int = 100,
        norm: str = "linf",
        loss: str = "ce",
        targeted: bool = False,
        restarts: int = 1,
        n_target_classes: int = 9,
        odi_steps: int = 0,
        extended_targets: int = 0,
        extended_steps: int = 100,
        rho: float = 0.75,
        large_radii: bool = True,
        early_stop: bool = True,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        self.eps = resolve_eps(eps, norm)
        check_range("steps", steps, low=1)
        check_range("restarts", restarts, low=1)
        check_range("n_target_classes", n_target_classes, low=1)
        check_range("odi_steps", odi_steps, low=0)
        check_range("extended_targets", extended_targets, low=0)
        check_range("extended_steps", extended_steps, low=1)
        if extended_targets and not targeted:
            raise UserInputError("extended_targets ranks the target classes of APGD-T: set targeted=True")
        if odi_steps and norm == "l1":
            raise UserInputError("odi_steps (output-diversified starts) works at ℓ∞ and ℓ2; set odi_steps=0 at ℓ1")
        check_range("rho", rho, low=0, high=1)
        self.steps = steps
        self.norm = norm
        self.loss = loss
        self.restarts = restarts
        self.n_target_classes = n_target_classes
        self.odi_steps = odi_steps
        self.extended_targets = extended_targets
        self.extended_steps = extended_steps
        self.rho = rho
        self.large_radii = large_radii
        self.early_stop = early_stop
        # Derived from the settings above (private: two attacks with equal settings are equal).
        self._threat = threat_model(norm, self.eps)
        self._loss_objective = objective(loss, targeted)

    def budget(self) -> int:
        """One gradient at the start of each run (of each phase at ℓ1), one per ODI step and one per
        step, per restart and target class."""
        phases = len(phase_radii(self.eps, self.steps, self.large_radii)) if self.norm == "l1" else 1
        runs = (self.steps + phases + self.odi_steps) * self.restarts * (self.n_target_classes if self.targeted else 1)
        extended = min(self.extended_targets, self.n_target_classes)  # one run per ranked target at most
        return runs + (self.extended_steps + phases + self.odi_steps) * extended

    def check_classes(self, num_classes: int) -> None:
        super().check_classes(num_classes)
        if self.loss == "dlr":
            check_dlr_classes(num_classes)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        generator = self.generator(x.device)
        with torch.no_grad():
            clean_logits = model(x)
        if self.loss == "dlr":
            check_dlr_classes(clean_logits.shape[1])
        if self.targeted and target is None:
            ranked = clean_logits.argsort(dim=1, descending=True)
            n = min(self.n_target_classes, ranked.shape[1] - 1)
            # Each target run aims at the k-th most likely other class; success = misclassified.
            target_runs = [ranked[:, 1 + k] for k in range(n)]
            judge_target = None
        else:
            target_runs, judge_target = [target], target
        # As in AutoAttack, only points not yet fooled are attacked, by every run in turn.
        best_x, best_success = x.clone(), success(clean_logits, y, judge_target)
        best_score = torch.full_like(y, float("-inf"), dtype=x.dtype)

        def attack_rest(run_target: Tensor | None, steps: int) -> tuple[Tensor, Tensor]:
            """One run of ``steps`` steps toward ``run_target`` ``[B]`` on the samples not yet fooled,
            which keep their worst case; returns them ``[b]`` and the run's objective ``[b]``."""
            idx = (~best_success).nonzero().squeeze(1)
            t_run = None if run_target is None else run_target[idx]
            t_judge = None if judge_target is None else judge_target[idx]
            f = lambda logits, rows: self._loss_objective(logits, y[idx][rows], None if t_run is None else t_run[rows])  # noqa: E731
            x_adv, score = self._single_run(
                model, x[idx], f, y[idx], t_judge, None if mask is None else mask[idx], generator,
                clean_logits.shape[1], steps,
            )  # fmt: skip
            with torch.no_grad():
                ok = success(model(x_adv), y[idx], t_judge)
            best_x[idx], best_success[idx], best_score[idx] = keep_better(
                best_x[idx], best_success[idx], best_score[idx], x_adv, ok, score
            )
            return idx, score

        # [B, targets]: the highest objective each target's runs reached on each sample (inf once fooled)
        target_scores = torch.full((len(y), len(target_runs)), float("-inf"), device=x.device, dtype=x.dtype)
        for k, run_target in enumerate(target_runs):
            for _ in range(self.restarts):
                if best_success.all():
                    return best_x
                idx, score = attack_rest(run_target, self.steps)
                target_scores[idx, k] = torch.maximum(target_scores[idx, k], score)
        if judge_target is None and self.extended_targets:
            by_score = target_scores.argsort(dim=1, descending=True, stable=True)
            ranked = torch.stack(target_runs, dim=1).gather(1, by_score)  # [B, targets], closest first
            for rank in range(min(self.extended_targets, ranked.shape[1])):
                if best_success.all():
                    return best_x
                attack_rest(ranked[:, rank], self.extended_steps)
        return best_x

    def _step(self, x: Tensor, x_adv: Tensor, grad: Tensor, step_size: Tensor, mask: Tensor | None) -> Tensor:
        delta = self._threat.step(x, x_adv - x, apply_mask(grad, mask), step_size)
        return x + self._threat.constrain(x, delta, mask)

    def _diversified_start(self, model, x, x_adv, mask, generator, num_classes: int) -> Tensor:
        """``x_adv`` after ``odi_steps`` steps of size ε up ``w·logits``, ``w ~ U[−1, 1]^K`` per sample."""
        w = torch.rand(x.shape[0], num_classes, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
        for _ in range(self.odi_steps):
            grad, _, _ = input_gradient(model, x_adv, lambda logits: (logits * w).sum(1), self.eot_samples)
            x_adv = self._step(x, x_adv, grad, self.eps, mask)
        return x_adv

    def _single_run(self, model, x, f, y, judge_target, mask, generator, num_classes, steps) -> tuple[Tensor, Tensor]:
        if self.norm == "l1":
            return l1_apgd_run(
                model, x, f, y, judge_target, mask, generator, self.eps, steps, self.large_radii,
                self.early_stop, self.eot_samples,
            )  # fmt: skip
        batch = x.shape[0]
        x_adv = x + self._threat.constrain(x, self._threat.random_start(x, generator), mask)
        if self.odi_steps:
            x_adv = self._diversified_start(model, x, x_adv, mask, generator, num_classes)
        everyone = slice(None)
        grad, score, logits = input_gradient(model, x_adv, lambda z: f(z, everyone), self.eot_samples)
        best_x, best_score, best_grad = x_adv.clone(), score.clone(), grad.clone()
        found = success(logits, y, judge_target)
        found_x = x_adv.clone()

        step_size = torch.full((batch, 1, 1, 1), 2.0 * self.eps, device=x.device, dtype=x.dtype)
        x_prev = x_adv.clone()
        marks = set(checkpoints(steps))
        last_mark = 0
        increases = torch.zeros(batch, device=x.device)
        score_prev = score.clone()
        best_at_last_mark = best_score.clone()
        halved_at_last_mark = torch.ones(batch, dtype=torch.bool, device=x.device)
        for i in range(steps):
            z = self._step(x, x_adv, grad, step_size, mask)
            momentum = 0.75 if i > 0 else 1.0
            candidate = x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - x_prev)
            candidate = x + self._threat.constrain(x, candidate - x, mask)
            x_prev, x_adv = x_adv, candidate
            # Found points return their first success whatever happens next: no more passes for them.
            rows = (~found).nonzero().squeeze(1) if self.early_stop else everyone
            if self.early_stop and rows.numel() == 0:
                break
            grad[rows], score[rows], logits = input_gradient(
                model, x_adv[rows], lambda z, r=rows: f(z, r), self.eot_samples
            )

            record_first_success(found, found_x, x_adv, logits, rows, y, judge_target)
            increases += (score > score_prev).float()
            score_prev = score.clone()
            update_best(best_x, best_grad, best_score, x_adv, grad, score)

            if i + 1 in marks:
                span = i + 1 - last_mark
                halve = (increases <= self.rho * span) | (~halved_at_last_mark & (best_at_last_mark >= best_score))
                step_size[halve] /= 2.0
                x_adv[halve], grad[halve] = best_x[halve], best_grad[halve]
                halved_at_last_mark, best_at_last_mark = halve, best_score.clone()
                increases.zero_()
                last_mark = i + 1
        result = torch.where(found.view(-1, 1, 1, 1), found_x, best_x)
        return result, torch.where(found, torch.full_like(best_score, float("inf")), best_score)
