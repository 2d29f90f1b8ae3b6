"""The robustness section: accuracy under each attack with counts and 95 % Wilson intervals, the
per-sample worst case over the attacks of the threat model, AutoAttack's standard evaluation
beside them (optional), and AutoAttack-style sanity flags in plain words."""

from __future__ import annotations

import html

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..models.passes import PassCount
from ..models.state import eval_mode
from ..output.html import fmt, interval_of, keyed_table, settings_text
from ..output.text import format_eps, format_rate
from .autoattack import AUTOATTACK_ATTACKS, AUTOATTACK_NORMS, autoattack_robust
from .base import AttackRuns, ProbeBatch, Section
from .intervals import rate
from .records import Records

MEASURES = ("robust", "linf", "l2", "l1")  # per attack and sample: robust (1/0), norms of δ where broken
# Per attack and sample: the sample's share of its batch's forward and backward passes (``models.passes``).
PASSES = ("forward", "backward")


def attack_settings(attack: Attack) -> dict:
    """An attack's plain settings (steps, step size, restarts, queries, ε, ...) for the report."""
    settings = {
        k: v
        for k, v in vars(attack).items()
        if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None)))
    }
    if "eps" in settings:
        settings["eps_text"] = format_eps(settings["eps"])
    return settings


def attack_radius(attack: Attack, norm: str, eps: float) -> tuple[str, float]:
    """``(norm, ε)`` an attack's success is judged at (unbounded attacks: their own norm at
    ``presets.unbounded_radius``)."""
    if not attack.bounded:
        return attack.norm, presets.unbounded_radius(attack.norm, norm, eps)
    return attack.norm, float(attack.eps)


# The report keys the section writes (``Section.report_schema``).
REPORT_SCHEMA: dict = {
    "properties": {
        "clean": {"$ref": "#/$defs/rate"},
        "clean_accuracy": {"type": ["number", "null"]},
        "worst_case": {
            "allOf": [{"$ref": "#/$defs/rate"}],
            "required": ["over"],
            "properties": {"over": {"type": "array", "items": {"type": "string"}}},
        },
        "our_worst_case": {
            "allOf": [{"$ref": "#/$defs/rate"}],
            "required": ["over"],
            "properties": {"over": {"type": "array", "items": {"type": "string"}}},
        },
        "worst_case_robust_accuracy": {"type": ["number", "null"]},
        "attacks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/robustness_attack"}},
        "passes": {
            "type": "object",
            "required": ["images", "ours"],
            "additionalProperties": False,
            "properties": {
                "images": {"type": "integer", "minimum": 0},
                "ours": {"$ref": "#/$defs/passes"},
                "autoattack": {"$ref": "#/$defs/passes"},
            },
        },
        "autoattack": {"$ref": "#/$defs/rate"},
        "robustbench": {
            "type": "object",
            "required": ["clean_acc", "autoattack_acc", "threat_model", "eps", "n_examples"],
            "additionalProperties": False,
            "properties": {
                "clean_acc": {"type": "number"},
                "autoattack_acc": {"$ref": "#/$defs/share"},
                "threat_model": {"type": "string"},
                "eps": {"type": "number"},
                "eps_text": {"type": "string"},
                "n_examples": {"type": "integer"},
            },
        },
    },
    "$defs": {
        "robustness_attack": {
            "type": "object",
            "required": [
                "attack",
                "settings",
                "robust_accuracy",
                "robust",
                "n",
                "ci95",
                "success_rate",
                "norm",
                "eps",
                "in_threat_model",
            ],
            "properties": {"passes": {"$ref": "#/$defs/passes"}},
            "not": {"required": ["robust_accuracy_ci95"]},
        },
        "passes": {
            "type": "object",
            "required": ["forward", "backward"],
            "additionalProperties": False,
            "properties": {"forward": {"type": "integer", "minimum": 0}, "backward": {"type": "integer", "minimum": 0}},
        },
    },
}


# The page's tables: report key → column title.
ATTACK_COLUMNS = {
    "name": "attack",
    "attack": "class",
    "norm": "norm",
    "eps_text": "ε",
    "targeted": "targeted",
    "robust_accuracy": "robust acc",
    "robust_of_n": "robust / n",
    "interval": "95 % interval",
    "success_rate": "success rate",
    "mean_linf": "mean ℓ∞ (fooled)",
    "mean_l2": "mean ℓ2 (fooled)",
    "mean_l1": "mean ℓ1 (fooled)",
}
ROBUSTBENCH_COLUMNS = {
    "clean_acc": "clean_acc",
    "autoattack_acc": "autoattack_acc",
    "threat_model": "threat_model",
    "eps_text": "eps",
    "n_examples": "n_examples",
}


class RobustnessSection(Section):
    """Per-sample clean correctness and, per attack, robustness (still correct after the attack; the
    attack runs on the correctly classified samples, shared with other sections through ``runs``).

    Report (top-level keys of report.json): ``threat_model``, ``clean_accuracy``, ``clean``
    (count, n, ci95), ``attacks.<name>`` (robust accuracy with its interval, success rate, mean
    ℓ∞/ℓ2 of the successful perturbations, the radius it is judged at, whether it is in the threat
    model), ``worst_case`` over the attacks in the threat model, ``autoattack`` (its version and
    attacks) and ``robustbench`` (with ``autoattack``), ``warnings`` (intervals too wide to quote) and
    ``sanity`` (zero input gradients; a black-box attack beating every white-box one). Logged per epoch:
    ``<prefix>/robust_acc`` (worst case) and ``<prefix>/probe_clean_acc``.

    Args:
        attacks: name → attack (default ``presets.autoattack_like``; needs ``num_classes``).
        norm: the threat model; the worst case is taken over the attacks judged in it.
        eps: the threat model; the worst case is taken over the attacks judged in it.
        autoattack: also run this version of AutoAttack (``standard``, ``plus`` or ``rand``;
            ``pyautoattack``) on every batch; None: not.
        prefix: the logged names' prefix (the probe split: ``val``).
        check_gradients: count images with an all-zero input gradient (one more forward and backward
            pass per batch; the per-epoch callback, which logs no sanity flags, turns it off).
    """

    name = "robustness"
    report_schema = REPORT_SCHEMA

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        norm: str = "linf",
        eps: float = presets.DEFAULT_EPS,
        num_classes: int | None = None,
        autoattack: str | None = None,
        seed: int = 0,
        prefix: str = "val",
        check_gradients: bool = True,
    ) -> None:
        super().__init__()
        if attacks is None:
            if num_classes is None:
                raise ValueError("RobustnessSection needs attacks or num_classes (for the default attacks)")
            attacks = presets.autoattack_like(eps, num_classes, norm, seed)
        self.attacks, self.norm, self.eps = attacks, norm, float(eps)
        self.autoattack, self.seed, self.prefix, self.check_gradients = autoattack, seed, prefix, check_gradients
        self.columns = {name: tuple(f"{kind}_{i}" for kind in (*MEASURES, *PASSES)) for i, name in enumerate(attacks)}
        autoattack_passes = tuple(f"autoattack_{kind}" for kind in PASSES)
        self.records = self.add_metric(
            Records(
                (
                    "correct",
                    "zero_gradient",
                    "autoattack",
                    *autoattack_passes,
                    *(c for cs in self.columns.values() for c in cs),
                )
            )
        )

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        correct = batch.correct
        unmeasured = torch.full_like(correct, torch.nan, dtype=torch.float64)
        columns = {
            "correct": correct.float(),
            "zero_gradient": zero_input_gradient(model, batch.x, batch.y).float()
            if self.check_gradients
            else unmeasured,
            "autoattack": unmeasured,
            "autoattack_forward": unmeasured,
            "autoattack_backward": unmeasured,
        }
        for name, attack in self.attacks.items():
            columns.update(zip(self.columns[name], self._attack(attack, runs, correct)))
        if self.autoattack:
            robust, passes = autoattack_robust(model, batch.x, batch.y, self.eps, self.norm, self.seed, self.autoattack)
            columns["autoattack"] = robust.double()
            columns["autoattack_forward"], columns["autoattack_backward"] = shares(passes, torch.ones_like(correct))
        self.records.update(batch.index, **columns)

    def _attack(self, attack: Attack, runs: AttackRuns, correct: Tensor) -> tuple[Tensor, ...]:
        """The ``MEASURES`` and ``PASSES`` ``[B]`` float64: robust (1/0), the ℓ∞/ℓ2/ℓ1 norms of the
        perturbations that broke a sample (NaN elsewhere), and each attacked sample's share of the
        run's forward and backward passes (0 for samples not attacked)."""
        robust = correct.clone()
        norms = [torch.full(correct.shape, torch.nan, dtype=torch.float64, device=correct.device) for _ in range(3)]
        if self.eps == 0 or not correct.any():  # at ε = 0 nothing moves
            return robust.double(), *norms, *shares(PassCount(), correct)
        result = runs.attacked(attack)
        held = result.logits.argmax(dim=1) == runs.batch.y
        if not attack.bounded:  # broken only within the radius it is judged at
            distance = {"l2": result.l2, "l1": result.l1}[attack.norm]
            held |= distance > presets.unbounded_radius(attack.norm, self.norm, self.eps)
        robust[correct] = held
        broken = correct.clone()
        broken[correct] = ~held
        for column, size in zip(norms, (result.linf, result.l2, result.l1)):
            column[broken] = size[~held].double()
        return robust.double(), *norms, *shares(result.passes, correct)

    def in_threat_model(self, attack: Attack) -> bool:
        norm, eps = attack_radius(attack, self.norm, self.eps)
        return norm == self.norm and abs(eps - self.eps) < 1e-9

    def compute(self, model: nn.Module | None = None, rank: int = 0, world_size: int = 1) -> dict:
        records = self.records.table()
        correct = records["correct"].bool()
        n = correct.numel()
        clean = rate(int(correct.sum()), n, "clean accuracy")
        out: dict = {
            "threat_model": {"norm": self.norm, "eps": self.eps, "eps_text": format_eps(self.eps)},
            "clean_accuracy": clean["value"],
            "clean": clean,
            "attacks": {},
            "num_samples": n,
        }
        worst = correct.clone()
        ours = PassCount()
        for name, attack in self.attacks.items():
            robust_key, *norm_keys, forward_key, backward_key = self.columns[name]
            passes = PassCount(round(records[forward_key].sum().item()), round(records[backward_key].sum().item()))
            ours += passes
            robust = records[robust_key].bool()
            sizes = {key: records[column][~records[column].isnan()] for key, column in zip(MEASURES[1:], norm_keys)}
            norm, eps = attack_radius(attack, self.norm, self.eps)
            counted = rate(int(robust.sum()), n, f"robust accuracy under {name}")
            out["attacks"][name] = {
                "attack": type(attack).__name__,
                "settings": attack_settings(attack),
                "robust_accuracy": counted["value"],
                "robust": counted["count"],
                "n": n,
                "ci95": counted["ci95"],
                "success_rate": (correct & ~robust).sum().item() / max(int(correct.sum()), 1),
                **{f"mean_{key}": size.mean().item() if size.numel() else None for key, size in sizes.items()},
                "eps": eps,
                "eps_text": format_eps(eps),
                "norm": norm,
                "targeted": bool(attack.targeted),
                "in_threat_model": self.in_threat_model(attack),
                "passes": vars(passes),
            }
            if self.in_threat_model(attack):
                worst &= robust
        over = [k for k, a in self.attacks.items() if self.in_threat_model(a)]
        out["passes"] = {"images": n, "ours": vars(ours)}
        if self.autoattack:
            out["passes"]["autoattack"] = {
                kind: round(records[f"autoattack_{kind}"].nan_to_num().sum().item()) for kind in PASSES
            }  # the headline takes AutoAttack's breaks too; ours alone is a secondary row
            by_autoattack = records["autoattack"].bool()
            out.update(self.autoattack_report(correct, worst, by_autoattack))
            ours = rate(int(worst.sum()), n, "robust accuracy under our attacks")
            out["our_worst_case"] = {**ours, "over": over}
            worst, over = worst & by_autoattack, [*over, "autoattack"]
        worst_rate = rate(int(worst.sum()), n, "worst-case robust accuracy")
        out["worst_case_robust_accuracy"] = worst_rate["value"]
        out["worst_case"] = {**worst_rate, "over": over}
        out["warnings"] = [entry["warning"] for entry in (clean, worst_rate) if "warning" in entry]
        out["sanity"] = self.sanity(out, n, int(records["zero_gradient"].nan_to_num().sum()))
        return out

    def media_prefix(self, report: dict) -> str:
        return self.prefix

    def scalars(self, report: dict) -> dict[str, float]:
        nan = float("nan")
        return {
            f"{self.prefix}/robust_acc": report["worst_case_robust_accuracy"] if report["num_samples"] else nan,
            f"{self.prefix}/probe_clean_acc": report["clean_accuracy"] if report["num_samples"] else nan,
        }

    def autoattack_report(self, correct: Tensor, worst: Tensor, robust: Tensor) -> dict:
        """AutoAttack's numbers, its RobustBench-style block, and how the worst case of our attacks
        (``worst``) compares on the same samples (ours should be no weaker: ``broken_only_by_autoattack``
        = 0). The headline worst case counts both sides' breaks whatever these counts say."""
        n = robust.numel()
        counted = rate(int(robust.sum()), n, "AutoAttack robust accuracy")
        threat = AUTOATTACK_NORMS[self.norm]
        return {
            "autoattack": {
                **counted,
                "version": self.autoattack,
                "attacks": AUTOATTACK_ATTACKS[self.autoattack],
                "broken_only_by_autoattack": int((worst & ~robust).sum()),
                "broken_only_by_our_attacks": int((robust & ~worst).sum()),
            },
            "robustbench": {
                "clean_acc": correct.float().mean().item(),
                "autoattack_acc": counted["value"],
                "threat_model": threat,
                "eps": self.eps,
                "eps_text": format_eps(self.eps),
                "n_examples": n,
            },
        }

    def sanity(self, out: dict, n: int, zero_gradients: int) -> list[str]:
        """Plain-word warnings (AutoAttack's checks): zero input gradients, and a black-box attack
        beating every white-box one in the threat model (a sign of gradient masking); also samples
        only AutoAttack broke."""
        flags = []
        beyond_ours = out.get("autoattack", {}).get("broken_only_by_autoattack", 0)
        if beyond_ours:
            flags.append(
                f"AutoAttack broke {beyond_ours} of {n} samples that our attacks did not: our attacks alone "
                f"overstate robustness (the worst case counts AutoAttack's breaks too)"
            )
        if zero_gradients:
            flags.append(
                f"{zero_gradients} of {n} images have an all-zero input gradient: gradient-based "
                f"attacks cannot move them, so their robust accuracy may be overestimated"
            )
        attacks = out["attacks"]
        black = [k for k, a in self.attacks.items() if not a.uses_gradients]
        white = [k for k, a in self.attacks.items() if a.uses_gradients and a.bounded and self.in_threat_model(a)]
        for name in black:
            best_white = min((attacks[k]["robust_accuracy"] for k in white), default=None)
            if best_white is not None and attacks[name]["robust_accuracy"] < best_white - 1 / n:
                flags.append(
                    f"the black-box {name} attack ({attacks[name]['robust_accuracy']:.3f}) beats every "
                    f"white-box attack (best {best_white:.3f}): gradients may be masked, so white-box "
                    f"numbers overestimate robustness"
                )
        return flags

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The robustness block of report.html."""
        threat = report["threat_model"]
        parts = [
            f"<h2>Robustness</h2><p>Threat model {threat['norm']}, ε = {threat['eps_text']} ({threat['eps']:.5g} in "
            f"pixels). Clean accuracy {fmt(report['clean']['value'])} {interval_of(report['clean'])} "
            f"({report['clean']['count']}/{report['clean']['n']}) · worst case over "
            f"{', '.join(report['worst_case']['over']) or 'no attack'}: {fmt(report['worst_case']['value'])} "
            f"{interval_of(report['worst_case'])} ({report['worst_case']['count']}/{report['worst_case']['n']}). "
            f"Intervals are 95 % Wilson intervals.</p>"
        ]
        rows = [
            {**a, "name": name, "robust_of_n": f"{a['robust']}/{a['n']}", "interval": interval_of(a)}
            for name, a in report["attacks"].items()
        ]
        parts.append(keyed_table(ATTACK_COLUMNS, rows))
        parts.append(
            keyed_table(
                {"name": "attack", "settings": "settings"},
                [{"name": name, "settings": settings_text(a["settings"])} for name, a in report["attacks"].items()],
            )
        )
        if "autoattack" in report:
            aa, rb, ours = report["autoattack"], report["robustbench"], report["our_worst_case"]
            parts.append(
                f"<h3>AutoAttack ({aa['version']}: {', '.join(aa['attacks'])})</h3><p>The worst case above is per "
                f"sample over our attacks and AutoAttack. AutoAttack alone: {fmt(aa['value'])} {interval_of(aa)} "
                f"({aa['count']}/{aa['n']}); samples only AutoAttack broke: {aa['broken_only_by_autoattack']}. Our "
                f"attacks alone: {fmt(ours['value'])} {interval_of(ours)} ({ours['count']}/{ours['n']}); samples "
                f"only our attacks broke: {aa['broken_only_by_our_attacks']}.</p>"
            )
            parts.append(keyed_table(ROBUSTBENCH_COLUMNS, [rb]))
        if "passes" in report:
            parts.append(f"<p>{html.escape(cost_text(report['passes']).capitalize())}.</p>")
        for flag in report.get("warnings", []) + report.get("sanity", []):
            parts.append(f'<p class="warn">⚠ {html.escape(flag)}</p>')
        if not report.get("sanity"):
            parts.append("<p>Sanity checks: no zero gradients; no black-box attack beats the white-box ones.</p>")
        return parts

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        """The terminal's robustness lines."""
        threat = report["threat_model"]
        lines = [f"clean accuracy {format_rate(report['clean'])}"]
        for name, attack in report["attacks"].items():
            counted = {**attack, "value": attack["robust_accuracy"], "count": attack["robust"]}
            lines.append(
                f"  {name:<10} robust accuracy {format_rate(counted)} ({attack['norm']} ε = {attack['eps_text']})"
            )
        lines.append(
            f"worst case over the {threat['norm']} ε = {threat['eps_text']} attacks"
            + (" and AutoAttack" if "autoattack" in report else "")
            + f" {format_rate(report['worst_case'])}"
        )
        if "autoattack" in report:
            aa = report["autoattack"]
            lines.append(
                f"  AutoAttack ({aa['version']}) alone {format_rate(aa)}, "
                f"{aa['broken_only_by_autoattack']} broken only by it"
            )
            lines.append(
                f"  our attacks alone {format_rate(report['our_worst_case'])}, "
                f"{aa['broken_only_by_our_attacks']} broken only by them"
            )
        if "passes" in report:
            lines.append(cost_text(report["passes"]))
        lines.extend(f"warning: {w}" for w in report.get("warnings", []) + report.get("sanity", []))
        return lines


def cost_text(passes: dict) -> str:
    """The cost sentence: our attacks' forward and backward image-passes, in all and per probe
    image, and AutoAttack's beside them with the ratio of the totals (forward + backward)."""
    images = max(passes["images"], 1)

    def counted(p: dict) -> str:
        return (
            f"{p['forward']} forward and {p['backward']} backward passes "
            f"({p['forward'] / images:.0f} and {p['backward'] / images:.0f} per image)"
        )

    text = f"cost: our attacks {counted(passes['ours'])}"
    if "autoattack" in passes:
        theirs = passes["autoattack"]
        ratio = (passes["ours"]["forward"] + passes["ours"]["backward"]) / max(
            theirs["forward"] + theirs["backward"], 1
        )
        text += f"; AutoAttack {counted(theirs)}; ours {ratio:.2f}× AutoAttack's"
    return text


def shares(passes: PassCount, attacked: Tensor) -> tuple[Tensor, Tensor]:
    """``[B]`` float64 forward and backward columns: ``passes`` (a batch's) split evenly over the
    ``attacked`` samples (bool ``[B]``), 0 elsewhere, so that sums over samples (and ranks) give the
    passes in all."""
    count = max(int(attacked.sum()), 1)
    return tuple(attacked.double() * getattr(passes, kind) / count for kind in PASSES)


def zero_input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """``[B]`` bool: the cross-entropy's gradient with respect to the input is all zero (an attack
    led by gradients cannot move the sample; AutoAttack's first sanity check)."""
    with eval_mode(model):
        xr = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    return grad.flatten(1).abs().amax(dim=1) == 0
