"""The robustness section of a report: accuracy under each attack with counts and 95 % Wilson
intervals, the per-sample worst case over the attacks of the threat model, AutoAttack's standard
evaluation beside them (optional), and AutoAttack-style sanity flags in plain words."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import APGD, CW, PGD, Attack, Square, attack_correct
from ..models.state import eval_mode
from .intervals import rate

L2_EPS = 0.5  # C&W ℓ2 is unbounded: under an ℓ∞ threat model it is judged within this ℓ2 radius


def format_eps(eps: float) -> str:
    """``8/255`` for multiples of 1/255, else the number (``0.5``)."""
    steps = round(eps * 255)
    if eps > 0 and abs(steps / 255 - eps) < 1e-9 and steps / 255 != round(eps, 3):
        return f"{steps}/255"
    return f"{eps:g}"


def attack_settings(attack: Attack) -> dict:
    """An attack's plain settings (steps, step size, restarts, queries, ε, ...) for the report."""
    settings = {k: v for k, v in vars(attack).items()
                if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None)))}
    if "eps" in settings:
        settings["eps_text"] = format_eps(settings["eps"])
    return settings


def default_attacks(eps: float, num_classes: int, norm: str = "linf", seed: int = 0,
                    square_queries: int = 1000) -> dict[str, Attack]:
    """PGD-20 (step ε/4), APGD-CE, APGD-T (DLR, needs ≥ 4 classes), C&W ℓ2 and Square at radius
    ``eps`` of ``norm``. C&W runs 5 × 100 steps and Square ``square_queries`` queries (fewer than their
    papers' defaults, to fit CPU budgets; raise them in ``--config``). Every attack stops working on a
    sample once it is fooled (PGD at its first adversarial point, C&W once fooled within the radius it
    is judged at), which can only lower robust accuracy and saves most of the work on weak models."""
    attacks: dict[str, Attack] = {
        "pgd20": PGD(eps=eps, steps=20, step_size=eps / 4, norm=norm, early_stop=True, seed=seed),
        "apgd_ce": APGD(eps=eps, loss="ce", norm=norm, seed=seed),
    }
    if num_classes >= 4:
        attacks["apgd_t"] = APGD(eps=eps, loss="dlr", norm=norm, targeted=True,
                                 n_target_classes=min(9, num_classes - 1), seed=seed)
    attacks["cw_l2"] = CW(steps=100, binary_search_steps=5, stop_radius=cw_radius(norm, eps), seed=seed)
    attacks["square"] = Square(eps=eps, norm=norm, n_queries=square_queries, seed=seed)
    return attacks


def cw_radius(norm: str, eps: float) -> float:
    """The ℓ2 radius C&W's success is judged at: ε under an ℓ2 threat model, else ``L2_EPS``."""
    return eps if norm == "l2" else L2_EPS


def attack_radius(attack: Attack, norm: str, eps: float) -> tuple[str, float]:
    """``(norm, ε)`` an attack's success is judged at (unbounded attacks: ℓ2 ``cw_radius``)."""
    if not attack.bounded:
        return "l2", cw_radius(norm, eps)
    return attack.norm, float(attack.eps)


class RobustnessTally:
    """Accumulates, over batches, per-sample clean correctness and per-attack robustness.

    ``norm``/``eps``: the threat model; the worst case is taken over the attacks judged in it.
    Call ``clean`` once per batch, then ``update`` per attack (in any order) and ``add_autoattack``.
    """

    def __init__(self, attacks: dict[str, Attack], norm: str, eps: float) -> None:
        self.attacks, self.norm, self.eps = attacks, norm, eps
        self.correct: list[Tensor] = []
        self.robust: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.fooled_linf: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.fooled_l2: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.autoattack: list[Tensor] = []
        self.zero_gradients = 0

    def clean(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """``[B]`` bool: correctly classified; also counts all-zero input gradients (sanity flag)."""
        with eval_mode(model):
            xr = x.detach().requires_grad_(True)
            logits = model(xr)
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xr)
        self.zero_gradients += int((grad.flatten(1).abs().amax(dim=1) == 0).sum())
        correct = logits.argmax(dim=1) == y
        self.correct.append(correct.cpu())
        return correct

    def update(self, name: str, model: nn.Module, x: Tensor, y: Tensor, correct: Tensor) -> None:
        """Attack ``name`` on the batch's correctly classified samples (at ε = 0 nothing moves)."""
        attack = self.attacks[name]
        if self.eps == 0:
            self.robust[name].append(correct.cpu())
            return
        robust, result = attack_correct(attack, model, x, y, correct)
        if result is not None:
            if not attack.bounded:  # broken only within the radius it is judged at
                robust[correct] |= result.l2 > cw_radius(self.norm, self.eps)
            broken = ~robust[correct]
            self.fooled_linf[name].append(result.linf[broken].cpu())
            self.fooled_l2[name].append(result.l2[broken].cpu())
        self.robust[name].append(robust.cpu())

    def add_autoattack(self, robust: Tensor) -> None:
        """AutoAttack's per-sample robustness ``[B]`` on the same batch."""
        self.autoattack.append(robust.cpu())

    def in_threat_model(self, attack: Attack) -> bool:
        norm, eps = attack_radius(attack, self.norm, self.eps)
        return norm == self.norm and abs(eps - self.eps) < 1e-9

    def report(self) -> dict:
        correct = torch.cat(self.correct)
        n = correct.numel()
        clean = rate(int(correct.sum()), n, "clean accuracy")
        out: dict = {"threat_model": {"norm": self.norm, "eps": self.eps, "eps_text": format_eps(self.eps)},
                     "clean_accuracy": clean["value"], "clean": clean, "attacks": {}, "num_samples": n}
        worst = correct.clone()
        for name, attack in self.attacks.items():
            robust = torch.cat(self.robust[name])
            linf = torch.cat(self.fooled_linf[name] or [torch.zeros(0)])
            l2 = torch.cat(self.fooled_l2[name] or [torch.zeros(0)])
            norm, eps = attack_radius(attack, self.norm, self.eps)
            counted = rate(int(robust.sum()), n, f"robust accuracy under {name}")
            out["attacks"][name] = {
                "attack": type(attack).__name__, "settings": attack_settings(attack),
                "robust_accuracy": counted["value"], "robust": counted["count"], "n": n,
                "robust_accuracy_ci95": counted["ci95"],
                "success_rate": (correct & ~robust).sum().item() / max(int(correct.sum()), 1),
                "mean_linf": linf.mean().item() if linf.numel() else None,
                "mean_l2": l2.mean().item() if l2.numel() else None,
                "eps": eps, "eps_text": format_eps(eps), "norm": norm, "targeted": bool(attack.targeted),
                "in_threat_model": self.in_threat_model(attack),
            }
            if self.in_threat_model(attack):
                worst &= robust
        worst_rate = rate(int(worst.sum()), n, "worst-case robust accuracy")
        out["worst_case_robust_accuracy"] = worst_rate["value"]
        out["worst_case"] = {**worst_rate, "over": [k for k, a in self.attacks.items() if self.in_threat_model(a)]}
        if self.autoattack:
            out.update(self.autoattack_report(correct, worst))
        out["warnings"] = [entry["warning"] for entry in (clean, worst_rate) if "warning" in entry]
        out["sanity"] = self.sanity(out, n)
        return out

    def autoattack_report(self, correct: Tensor, worst: Tensor) -> dict:
        """AutoAttack's numbers, its RobustBench-style block, and how our worst case compares on the
        same samples (ours should be no weaker: ``broken_only_by_autoattack`` = 0)."""
        robust = torch.cat(self.autoattack)
        n = robust.numel()
        counted = rate(int(robust.sum()), n, "AutoAttack robust accuracy")
        threat = {"linf": "Linf", "l2": "L2"}[self.norm]
        return {
            "autoattack": {**counted, "version": "standard", "attacks": ["apgd-ce", "apgd-t", "fab-t", "square"],
                           "broken_only_by_autoattack": int((worst & ~robust).sum()),
                           "broken_only_by_our_attacks": int((robust & ~worst).sum())},
            "robustbench": {"clean_acc": correct.float().mean().item(), "autoattack_acc": counted["value"],
                            "autoattack_acc_ci95": counted["ci95"], "threat_model": threat, "eps": self.eps,
                            "eps_text": format_eps(self.eps), "n_examples": n},
        }

    def sanity(self, out: dict, n: int) -> list[str]:
        """Plain-word warnings (AutoAttack's checks): zero input gradients, and a black-box attack
        beating every white-box one in the threat model (a sign of gradient masking)."""
        flags = []
        if self.zero_gradients:
            flags.append(f"{self.zero_gradients} of {n} images have an all-zero input gradient: gradient-based "
                         f"attacks cannot move them, so their robust accuracy may be overestimated")
        attacks = out["attacks"]
        black = [k for k, a in self.attacks.items() if not a.uses_gradients]
        white = [k for k, a in self.attacks.items() if a.uses_gradients and a.bounded and self.in_threat_model(a)]
        for name in black:
            best_white = min((attacks[k]["robust_accuracy"] for k in white), default=None)
            if best_white is not None and attacks[name]["robust_accuracy"] < best_white - 1 / n:
                flags.append(f"the black-box {name} attack ({attacks[name]['robust_accuracy']:.3f}) beats every "
                             f"white-box attack (best {best_white:.3f}): gradients may be masked, so white-box "
                             f"numbers overestimate robustness")
        return flags
