"""The robustness section: accuracy under each attack with counts and 95 % Wilson intervals, the
per-sample worst case over the attacks of the threat model, AutoAttack's standard evaluation
beside them (optional), and AutoAttack-style sanity flags in plain words."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import Attack, AttackResult, presets
from ..attacks.cascade import Cascade, run_cascade
from ..errors import UserInputError
from ..models.passes import PassCount
from ..models.state import eval_mode
from ..output.html import fmt, interval_of, keyed_table, settings_text
from ..output.text import format_eps, format_rate
from .autoattack import AUTOATTACK_ATTACKS, AUTOATTACK_NORMS, autoattack_robust
from .base import AttackRuns, ProbeBatch, Section
from .intervals import rate
from .records import Records

# Per attack and sample: robust (1/0; in a cascade, after this and every earlier stage), attacked
# (1/0), the norms of δ where this attack broke the sample.
MEASURES = ("robust", "attacked", "linf", "l2", "l1")
# Per attack and sample: the sample's share of its batch's forward and backward passes
# (``models.passes``) and of the run's seconds.
COSTS = ("forward", "backward", "seconds")


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
        "order": {"enum": ["cascade", "independent"]},
        "given_up": {"type": "integer", "minimum": 0},
        "attacks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/robustness_attack"}},
        "passes": {
            "type": "object",
            "required": ["images", "ours", "seconds"],
            "additionalProperties": False,
            "properties": {
                "images": {"type": "integer", "minimum": 0},
                "ours": {"$ref": "#/$defs/passes"},
                "autoattack": {"$ref": "#/$defs/passes"},
                "seconds": {
                    "type": "object",
                    "required": ["ours"],
                    "additionalProperties": False,
                    "properties": {"ours": {"type": "number"}, "autoattack": {"type": "number"}},
                },
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
                "attacked",
                "broke",
                "success_rate",
                "norm",
                "eps",
                "in_threat_model",
                "passes",
                "seconds",
            ],
            "properties": {
                "passes": {"$ref": "#/$defs/passes"},
                "attacked": {"type": "integer", "minimum": 0},
                "broke": {"type": "integer", "minimum": 0},
                "seconds": {"type": "number", "minimum": 0},
            },
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
    "attacked": "attacked",
    "broke": "broke",
    "success_rate": "success rate",
    "mean_linf": "mean ℓ∞ (fooled)",
    "mean_l2": "mean ℓ2 (fooled)",
    "mean_l1": "mean ℓ1 (fooled)",
    "cost": "passes (forward + backward)",
    "seconds_text": "seconds",
}
# In a cascade an attack's robust count is what is left after it and every earlier attack.
CASCADE_TITLES = {"robust_accuracy": "robust acc after it", "robust_of_n": "robust after it / n"}
ROBUSTBENCH_COLUMNS = {
    "clean_acc": "clean_acc",
    "autoattack_acc": "autoattack_acc",
    "threat_model": "threat_model",
    "eps_text": "eps",
    "n_examples": "n_examples",
}


class RobustnessSection(Section):
    """Per-sample clean correctness and robustness under attacks, run in one of two orders:

    - a ``Cascade`` (``attacks.cascade``; ``presets.cascade``, ``--robustness cascade``): each attack works on
      the samples every earlier one left robust (and, where gated, that earlier stages brought close
      to the boundary); an attack's row counts the samples robust **after** it and every earlier one;
    - a plain ``name → Attack`` dict (the default ``presets.autoattack_like``): each
      attack runs on every correctly classified sample (shared with other sections through ``runs``);
      its row counts the samples robust under it alone.

    Report (top-level keys of report.json): ``threat_model``, ``clean_accuracy``, ``clean``
    (count, n, ci95), ``order`` (``cascade`` or ``independent``), ``attacks.<name>`` (robust accuracy
    with its interval, the samples it attacked and broke, success rate, mean ℓ∞/ℓ2 of the successful
    perturbations, the radius it is judged at, whether it is in the threat model, its passes and
    seconds), ``worst_case`` over the attacks in the threat model, ``given_up`` (a cascade's: robust
    samples a gate kept a stage from, which no stage broke), ``autoattack`` (its version and attacks;
    with a cascade, ``given_up_broken_by_autoattack``: given-up samples AutoAttack broke, the count a
    gate must keep at zero) and ``robustbench`` (with ``autoattack``), ``passes`` (ours and AutoAttack's, with
    their seconds), ``warnings`` (intervals too wide to quote) and ``sanity`` (zero input gradients;
    a black-box attack beating the white-box ones). Logged per epoch: ``<prefix>/robust_acc``
    (worst case) and ``<prefix>/probe_clean_acc``.

    Args:
        attacks: a ``Cascade`` or a name → attack dict (default ``presets.autoattack_like``; needs
            ``num_classes``). A cascade's attacks judged outside the threat model run beside it, on
            every correctly classified sample (they cannot be gated).
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
        attacks: Mapping[str, Attack] | None = None,
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
        self.cascade = isinstance(attacks, Cascade)
        # Attacks outside the threat model (C&W's minimal ℓ2 under ℓ∞) break nothing the worst case
        # counts: a cascade leaves them out of its order and runs them beside it on every sample.
        self.beside = {name: attack for name, attack in attacks.items() if not self.in_threat_model(attack)}
        if self.cascade:
            gated = sorted(set(self.beside) & set(attacks.near))
            if gated:
                raise UserInputError(
                    f"{', '.join(gated)} is judged outside the threat model ({norm} ε = {format_eps(eps)}), so it "
                    f"runs beside the cascade and cannot be gated"
                )
            self.stages = Cascade({n: a for n, a in attacks.items() if n not in self.beside}, attacks.near)
        self.autoattack, self.seed, self.prefix, self.check_gradients = autoattack, seed, prefix, check_gradients
        self.columns = {name: tuple(f"{kind}_{i}" for kind in (*MEASURES, *COSTS)) for i, name in enumerate(attacks)}
        autoattack_costs = tuple(f"autoattack_{kind}" for kind in COSTS)
        self.records = self.add_metric(
            Records(
                (
                    "correct",
                    "zero_gradient",
                    "given_up",
                    "autoattack",
                    *autoattack_costs,
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
            "given_up": torch.zeros_like(correct, dtype=torch.float64),
            "autoattack": unmeasured,
            **{f"autoattack_{kind}": unmeasured for kind in COSTS},
        }
        moves = self.eps != 0 and bool(correct.any())  # at ε = 0 nothing moves
        outcomes = {name: self._outcome(correct, None, None) for name in self.attacks}
        for name, attack in (self.beside if self.cascade else self.attacks).items():
            if moves:
                result = runs.attacked(attack)
                robust = correct.clone()
                robust[correct] = self.held(attack, result, runs.batch.y)
                outcomes[name] = self._outcome(robust, correct, result)
        if self.cascade and moves:
            robust, passed_over = correct.clone(), torch.zeros_like(correct)
            for name, stage in run_cascade(model, batch.x, batch.y, correct, self.stages, self.held).items():
                passed_over |= robust & ~stage.attacked  # a gate kept the stage from this robust sample
                robust &= ~stage.broken
                outcomes[name] = self._outcome(robust, stage.attacked, stage.result)
            columns["given_up"] = (passed_over & robust).double()
        for name, outcome in outcomes.items():
            columns.update(zip(self.columns[name], outcome))
        if self.autoattack:
            start = time.perf_counter()
            robust, passes = autoattack_robust(model, batch.x, batch.y, self.eps, self.norm, self.seed, self.autoattack)
            columns["autoattack"] = robust.double()
            everyone = torch.ones_like(correct)
            cost = shares(passes, time.perf_counter() - start, everyone)
            columns.update({f"autoattack_{kind}": column for kind, column in zip(COSTS, cost)})
        self.records.update(batch.index, **columns)

    def held(self, attack: Attack, result: AttackResult, y: Tensor) -> Tensor:
        """``[b]`` bool: the attacked samples ``attack`` left robust — not misclassified, or, for
        an unbounded attack, misclassified only beyond the radius it is judged at."""
        held = result.logits.argmax(dim=1) == y
        if not attack.bounded:  # broken only within the radius it is judged at
            distance = {"l2": result.l2, "l1": result.l1}[attack.norm]
            held |= distance > presets.unbounded_radius(attack.norm, self.norm, self.eps)
        return held

    @staticmethod
    def _outcome(robust: Tensor, attacked: Tensor | None, result: AttackResult | None) -> tuple[Tensor, ...]:
        """The ``MEASURES`` and ``COSTS`` ``[B]`` float64 of one attack: robust (1/0), attacked (1/0),
        the ℓ∞/ℓ2/ℓ1 norms of the perturbations that broke an attacked sample (NaN elsewhere), and each
        attacked sample's share of the run's forward and backward passes and seconds (0 for
        samples not attacked). ``attacked`` ``[B]`` bool and ``result`` (on the attacked samples,
        in order) are None where the attack did not run."""
        norms = [torch.full(robust.shape, torch.nan, dtype=torch.float64, device=robust.device) for _ in range(3)]
        if result is None:
            nobody = torch.zeros_like(robust)
            return robust.double(), nobody.double(), *norms, *shares(PassCount(), 0.0, nobody)
        broken = attacked & ~robust
        held = ~broken[attacked]
        for column, size in zip(norms, (result.linf, result.l2, result.l1)):
            column[broken] = size[~held].double()
        return robust.double(), attacked.double(), *norms, *shares(result.passes, result.seconds, attacked)

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
            "order": "cascade" if self.cascade else "independent",
            "attacks": {},
            "num_samples": n,
        }
        worst = correct.clone()
        before = correct.clone()  # in a cascade: robust after the stages so far
        ours = {kind: 0.0 for kind in COSTS}
        for name, attack in self.attacks.items():
            robust_key, attacked_key, *norm_keys = self.columns[name][: len(MEASURES)]
            cost = {kind: records[key].sum().item() for kind, key in zip(COSTS, self.columns[name][len(MEASURES) :])}
            ours = {kind: ours[kind] + cost[kind] for kind in COSTS}
            robust, attacked = records[robust_key].bool(), records[attacked_key].bool()
            in_cascade = self.cascade and name not in self.beside
            broke = (before if in_cascade else correct) & ~robust
            sizes = {key: records[column][~records[column].isnan()] for key, column in zip(MEASURES[2:], norm_keys)}
            norm, eps = attack_radius(attack, self.norm, self.eps)
            counted = rate(int(robust.sum()), n, f"robust accuracy under {name}")
            out["attacks"][name] = {
                "attack": type(attack).__name__,
                "settings": attack_settings(attack),
                "robust_accuracy": counted["value"],
                "robust": counted["count"],
                "n": n,
                "ci95": counted["ci95"],
                "attacked": int(attacked.sum()),
                "broke": int(broke.sum()),
                "success_rate": int(broke.sum()) / max(int(attacked.sum()), 1),
                **{f"mean_{key}": size.mean().item() if size.numel() else None for key, size in sizes.items()},
                "eps": eps,
                "eps_text": format_eps(eps),
                "norm": norm,
                "targeted": bool(attack.targeted),
                "in_threat_model": self.in_threat_model(attack),
                "passes": counted_passes(cost),
                "seconds": cost["seconds"],
            }
            if self.in_threat_model(attack):
                worst &= robust
            if in_cascade:
                before = robust
        over = [k for k, a in self.attacks.items() if self.in_threat_model(a)]
        given_up = records["given_up"].bool()
        if self.cascade:
            out["given_up"] = int(given_up.sum())
        out["passes"] = {"images": n, "ours": counted_passes(ours), "seconds": {"ours": ours["seconds"]}}
        if self.autoattack:
            theirs = {kind: records[f"autoattack_{kind}"].nan_to_num().sum().item() for kind in COSTS}
            out["passes"]["autoattack"] = counted_passes(theirs)
            out["passes"]["seconds"]["autoattack"] = theirs["seconds"]
            # the headline takes AutoAttack's breaks too; ours alone is a secondary row
            by_autoattack = records["autoattack"].bool()
            out.update(self.autoattack_report(correct, worst, by_autoattack))
            if self.cascade:
                out["autoattack"]["given_up_broken_by_autoattack"] = int((given_up & ~by_autoattack).sum())
            ours_rate = rate(int(worst.sum()), n, "robust accuracy under our attacks")
            out["our_worst_case"] = {**ours_rate, "over": over}
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
            if self.cascade:  # a black-box stage breaks what every white-box stage before it left robust
                order = list(self.attacks)
                white_before = [k for k in white if order.index(k) < order.index(name)]
                if white_before and attacks[name]["broke"] >= 2:
                    flags.append(
                        f"the black-box {name} attack broke {attacks[name]['broke']} samples that every white-box "
                        f"attack before it left robust: gradients may be masked, so white-box numbers "
                        f"overestimate robustness"
                    )
                continue
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
            {
                **a,
                "name": name,
                "robust_of_n": f"{a['robust']}/{a['n']}",
                "interval": interval_of(a),
                "cost": a["passes"]["forward"] + a["passes"]["backward"],
                "seconds_text": f"{a['seconds']:.1f}",
            }
            for name, a in report["attacks"].items()
        ]
        cascade = report["order"] == "cascade"
        if cascade:
            parts.append(
                "<p>The attacks ran as a cascade, in the table's order: each attacked only the samples every "
                "attack above it left robust, so a row counts the samples robust after it and all above it "
                "(an attack outside the threat model ran beside the cascade, on every sample, and counts "
                "alone).</p>"
            )
        parts.append(keyed_table({**ATTACK_COLUMNS, **(CASCADE_TITLES if cascade else {})}, rows))
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
        cascade = report["order"] == "cascade"
        if cascade:
            lines.append("attacks in a cascade (each on what the earlier left robust):")
        width = max((len(name) for name in report["attacks"]), default=0)
        for name, attack in report["attacks"].items():
            counted = {**attack, "value": attack["robust_accuracy"], "count": attack["robust"]}
            after = " after it" if cascade and attack["in_threat_model"] else ""
            lines.append(
                f"  {name:<{width}} robust accuracy{after} {format_rate(counted)} ({attack['norm']} ε = "
                f"{attack['eps_text']}; attacked {attack['attacked']}, broke {attack['broke']})"
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
    image, and their seconds; AutoAttack's beside them with the ratios of the totals (passes:
    forward + backward; seconds)."""
    images = max(passes["images"], 1)
    seconds = passes["seconds"]

    def counted(p: dict, time: float) -> str:
        return (
            f"{p['forward']} forward and {p['backward']} backward passes "
            f"({p['forward'] / images:.0f} and {p['backward'] / images:.0f} per image), {time:.1f} s"
        )

    text = f"cost: our attacks {counted(passes['ours'], seconds['ours'])}"
    if "autoattack" in passes:
        ours, theirs = passes["ours"], passes["autoattack"]
        ratio = (ours["forward"] + ours["backward"]) / max(theirs["forward"] + theirs["backward"], 1)
        text += (
            f"; AutoAttack {counted(theirs, seconds['autoattack'])}; ours {ratio:.2f}× AutoAttack's passes "
            f"and {seconds['ours'] / max(seconds['autoattack'], 1e-9):.2f}× its time"
        )
    return text


def shares(passes: PassCount, seconds: float, attacked: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``[B]`` float64 forward, backward and seconds columns (``COSTS``): a batch's ``passes`` and
    ``seconds`` split evenly over the ``attacked`` samples (bool ``[B]``), 0 elsewhere, so that sums
    over samples (and ranks) give the cost in all."""
    count = max(int(attacked.sum()), 1)
    return tuple(attacked.double() * total / count for total in (passes.forward, passes.backward, seconds))


def counted_passes(cost: dict) -> dict:
    """``{"forward", "backward"}`` as whole image-passes, from summed per-sample shares."""
    return {kind: round(cost[kind]) for kind in ("forward", "backward")}


def zero_input_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """``[B]`` bool: the cross-entropy's gradient with respect to the input is all zero (an attack
    led by gradients cannot move the sample; AutoAttack's first sanity check)."""
    with eval_mode(model):
        xr = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    return grad.flatten(1).abs().amax(dim=1) == 0
