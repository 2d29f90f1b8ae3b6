"""The robustness section of a report: accuracy under each attack, the per-sample worst case, and
AutoAttack-style sanity flags in plain words."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import APGD, CW, PGD, Attack, Square, attack_correct
from ..models.state import eval_mode

L2_EPS = 0.5  # C&W ℓ2 is unbounded: a sample counts as broken when it is fooled within this radius


def default_attacks(eps: float, num_classes: int, seed: int = 0, square_queries: int = 1000) -> dict[str, Attack]:
    """PGD-20, APGD-CE, APGD-T (DLR, needs ≥ 4 classes), C&W ℓ2 and Square at ℓ∞ ``eps``.
    C&W runs 5 × 100 steps and Square ``square_queries`` queries (fewer than their papers' defaults,
    to fit CPU budgets; raise them in ``--config``)."""
    attacks: dict[str, Attack] = {
        "pgd20": PGD(eps=eps, steps=20, step_size=eps / 4, seed=seed),
        "apgd_ce": APGD(eps=eps, loss="ce", seed=seed),
    }
    if num_classes >= 4:
        attacks["apgd_t"] = APGD(eps=eps, loss="dlr", targeted=True, n_target_classes=min(9, num_classes - 1), seed=seed)
    attacks["cw_l2"] = CW(steps=100, binary_search_steps=5, seed=seed)
    attacks["square"] = Square(eps=eps, n_queries=square_queries, seed=seed)
    return attacks


def attack_radius(attack: Attack) -> tuple[str, float]:
    """``(norm, ε)`` an attack's success is judged at (C&W: ℓ2 ``L2_EPS``)."""
    if isinstance(attack, CW):
        return "l2", L2_EPS
    return getattr(attack, "norm", "linf"), float(getattr(attack, "eps", float("nan")))


class RobustnessTally:
    """Accumulates, over batches, per-sample clean correctness and per-attack robustness."""

    def __init__(self, attacks: dict[str, Attack]) -> None:
        self.attacks = attacks
        self.correct: list[Tensor] = []
        self.robust: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.fooled_linf: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.fooled_l2: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.zero_gradients = 0

    def update(self, model: nn.Module, x: Tensor, y: Tensor) -> None:
        with eval_mode(model):
            xr = x.detach().requires_grad_(True)
            logits = model(xr)
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xr)
        self.zero_gradients += int((grad.flatten(1).abs().amax(dim=1) == 0).sum())
        correct = logits.argmax(dim=1) == y
        self.correct.append(correct.cpu())
        for name, attack in self.attacks.items():
            robust, result = attack_correct(attack, model, x, y, correct)
            if result is not None:
                if isinstance(attack, CW):  # unbounded: broken only within the ℓ2 radius
                    robust[correct] |= result.l2 > L2_EPS
                broken = ~robust[correct]
                self.fooled_linf[name].append(result.linf[broken].cpu())
                self.fooled_l2[name].append(result.l2[broken].cpu())
            self.robust[name].append(robust.cpu())

    def report(self) -> dict:
        correct = torch.cat(self.correct)
        n = correct.numel()
        out: dict = {"clean_accuracy": correct.float().mean().item(), "attacks": {}}
        worst = correct.clone()
        for name, attack in self.attacks.items():
            robust = torch.cat(self.robust[name])
            linf, l2 = torch.cat(self.fooled_linf[name] or [torch.zeros(0)]), torch.cat(self.fooled_l2[name] or [torch.zeros(0)])
            norm, eps = attack_radius(attack)
            out["attacks"][name] = {
                "robust_accuracy": robust.float().mean().item(),
                "success_rate": (correct & ~robust).sum().item() / max(int(correct.sum()), 1),
                "mean_linf": linf.mean().item() if linf.numel() else None,
                "mean_l2": l2.mean().item() if l2.numel() else None,
                "eps": eps, "norm": norm, "targeted": bool(attack.targeted),
                "attack": repr(attack).split("(")[0],
            }
            if norm == "linf":
                worst &= robust
        out["worst_case_robust_accuracy"] = worst.float().mean().item()
        out["num_samples"] = n
        out["sanity"] = self.sanity(out, n)
        return out

    def sanity(self, out: dict, n: int) -> list[str]:
        """Plain-word warnings (AutoAttack's checks): zero input gradients, and a black-box attack
        beating every white-box one at the same ε (a sign of gradient masking)."""
        flags = []
        if self.zero_gradients:
            flags.append(f"{self.zero_gradients} of {n} images have an all-zero input gradient: gradient-based "
                         f"attacks cannot move them, so their robust accuracy may be overestimated")
        attacks = out["attacks"]
        black = [k for k, a in self.attacks.items() if isinstance(a, Square)]
        white = [k for k, a in self.attacks.items() if not isinstance(a, (Square, CW)) and attack_radius(a)[0] == "linf"]
        for name in black:
            best_white = min((attacks[k]["robust_accuracy"] for k in white), default=None)
            if best_white is not None and attacks[name]["robust_accuracy"] < best_white - 1 / n:
                flags.append(f"the black-box {name} attack ({attacks[name]['robust_accuracy']:.3f}) beats every "
                             f"white-box attack (best {best_white:.3f}): gradients may be masked, so white-box "
                             f"numbers overestimate robustness")
        return flags
