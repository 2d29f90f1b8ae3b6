"""Seeded faults: do the tests catch broken science?

Each fault is a one-line change to the package's science code (pixel groups, PSE, CAM, dissection,
attacks, statistics and findings, training). For each, this script applies it, runs the tests that
cover that module, restores the file (also on Ctrl-C and on SIGTERM) and records whether the tests failed
(*caught*) or passed (*survived*). It prints the table and the share caught.

    .venv/bin/python benchmarks/fault_seeding.py            # every fault (about 20 minutes here)
    .venv/bin/python benchmarks/fault_seeding.py --only 3 7  # some of them

It edits the working tree while it runs: run it on a clean checkout and leave the files alone
meanwhile. A fault whose text is not found any more (the code moved) is reported as ``stale``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "lightning_pse"


@dataclass(frozen=True)
class Fault:
    path: str  # below lightning_pse/
    old: str  # the line's text (must occur exactly once)
    new: str
    what: str
    tests: tuple[str, ...]  # pytest arguments: test files and, optionally, -k expressions


PSE_TESTS = ("tests/pse",)
CAM_TESTS = ("tests/cam",)
DISSECT_TESTS = ("tests/dissect",)
ATTACK_TESTS = ("tests/attacks/test_attacks.py",)
STATS_TESTS = ("tests/analysis/test_stats.py", "tests/analysis/test_findings.py")
TRAINING_TESTS = ("tests/training/test_adversarial_training.py",)
# The comparison's unit tests (the module's others analyse checkpoints: minutes).
CASCADE_TESTS = ("tests/attacks/test_cascade.py",)
ODI_TESTS = ("tests/attacks/test_attacks.py", "-k", "odi or diversified")
COMPARE_TESTS = ("tests/analysis/test_compare.py", "-k", "correlations or perfect or holm or bounded or minimum")

FAULTS = [
    # pixel groups and PSE
    Fault(
        "groups.py",
        "math.ceil((self.height - self.size) / self.step) + 1,",
        "(self.height - self.size) // self.step + 1,",
        "group grid drops the partial last row (floor instead of ceil)",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "strongest = effect.amax(dim=1, keepdim=True)",
        "strongest = effect.amax()",
        "ρ relative to the batch's strongest effect, not each image's",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "category[ratio > tau] = int(Category.PROMOTION)",
        "category[ratio > -tau] = int(Category.PROMOTION)",
        "promotion threshold at −τ",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "return torch.log2(promotion.clamp(min=eps)) - torch.log2(suppression.clamp(min=eps))",
        "return torch.log2(suppression.clamp(min=eps)) - torch.log2(promotion.clamp(min=eps))",
        "PSR sign flipped",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "sums.scatter_add_(1, category, energy * active)",
        "sums.scatter_add_(1, category, energy)",
        "energy shares count inactive groups",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "best = shares.argmax(dim=1)",
        "best = shares.argmin(dim=1)",
        "image type is the category of least energy",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "active = (energy > 1e-12) & (effect > 0) & (effect >= rho * strongest)",
        "active = (energy > 1e-12) & (effect >= rho * strongest)",
        "groups with no positive effect count as active",
        PSE_TESTS,
    ),
    Fault(
        "pse/units.py",
        "sensitivity=relative_change(change.abs().mean(dim=0), clean.mean(dim=0), eps),",
        "sensitivity=relative_change(change.mean(dim=0).abs(), clean.mean(dim=0), eps),",
        "unit sensitivity |mean Δ| instead of mean |Δ|",
        PSE_TESTS,
    ),
    Fault(
        "pse/units.py",
        "self.abs_change += effects.change.abs().sum(dim=0).double()",
        "self.abs_change += effects.change.sum(dim=0).abs().double()",
        "accumulated unit sensitivity |Σ Δ| instead of Σ |Δ|",
        PSE_TESTS,
    ),
    Fault(
        "pse/effects.py",
        "suppression[img, grp] = base_t0[img] - _pick(logits, y[img])",
        "suppression[img, grp] = _pick(logits, y[img]) - base_t0[img]",
        "ablation suppression sign flipped",
        PSE_TESTS,
    ),
    Fault(
        "pse/effects.py",
        "promotion = grid.unfold(grad_t * delta).sum(dim=2)",
        "promotion = grid.unfold(grad_t * delta.abs()).sum(dim=2)",
        "gradient estimator uses |δ|",
        PSE_TESTS,
    ),
    # CAM
    Fault(
        "cam/agreement.py",
        "target_region = class_region(model, x_adv, target, method, layer, threshold)",
        "target_region = class_region(model, x, target, method, layer, threshold)",
        "target class's CAM region on x instead of x_adv",
        CAM_TESTS,
    ),
    Fault(
        "cam/agreement.py",
        "cam_shift=iou(true_region, true_on_adv),",
        "cam_shift=iou(true_region, true_region),",
        "CAM shift compares the clean region with itself",
        CAM_TESTS,
    ),
    Fault(
        "cam/regions.py",
        "return maps >= threshold * maps.amax(dim=(1, 2), keepdim=True)",
        "return maps >= threshold * maps.amax()",
        "CAM region threshold relative to the batch's maximum",
        CAM_TESTS,
    ),
    Fault(
        "cam/regions.py",
        "inside = (delta * region).flatten(1).norm(dim=1)",
        "inside = (delta * region).flatten(1).norm(dim=1) ** 2",
        "interpretability score with a squared numerator",
        CAM_TESTS,
    ),
    Fault(
        "cam/saliency.py",
        "asm = torch.where((g_target < 0) | (g_true > 0), torch.zeros_like(asm), asm)",
        "asm = torch.where((g_target < 0) & (g_true > 0), torch.zeros_like(asm), asm)",
        "ASM sign rule with 'and' instead of 'or'",
        CAM_TESTS,
    ),
    # dissection
    Fault(
        "dissect/sensitivity.py",
        'for name, units in (("topk", order[:k]), ("bottomk", order[-k:]), ("randomk", order)):',
        'for name, units in (("topk", order[-k:]), ("bottomk", order[:k]), ("randomk", order)):',
        "top-k and bottom-k swapped",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/sensitivity.py",
        "up_to = torch.searchsorted(ordered, values, right=True)",
        "up_to = torch.searchsorted(ordered, values, right=False)",
        "ties get their lowest rank, not their average",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/result.py",
        "return self.iou.max(dim=1).values",
        "return self.iou.mean(dim=1)",
        "a unit's best IoU is its mean IoU",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/tally.py",
        "union = unit_pixels + label_pixels[None] - intersection",
        "union = unit_pixels + label_pixels[None]",
        "IoU union counts the intersection twice",
        DISSECT_TESTS,
    ),
    # attacks
    Fault(
        "attacks/threat.py",
        "return delta.clamp(-self.eps, self.eps)",
        "return delta.clamp(-2 * self.eps, 2 * self.eps)",
        "ℓ∞ projection onto twice the radius",
        ATTACK_TESTS,
    ),
    Fault(
        "attacks/threat.py",
        "return delta + step_size * grad.sign()",
        "return delta - step_size * grad.sign()",
        "ℓ∞ step descends the objective",
        ATTACK_TESTS,
    ),
    Fault(
        "attacks/threat.py",
        "return (x + delta).clamp(0, 1) - x",
        "return delta",
        "perturbed images leave [0, 1]",
        ATTACK_TESTS,
    ),
    Fault(
        "attacks/losses.py",
        "return pred == target if target is not None else pred != y",
        "return pred != y",
        "targeted success counts any misclassification",
        ATTACK_TESTS,
    ),
    Fault(
        "attacks/losses.py",
        'return logits.scatter(1, label[:, None], float("-inf")).amax(dim=1)',
        "return logits.amax(dim=1)",
        "C&W margin's runner-up includes the label itself",
        ATTACK_TESTS,
    ),
    Fault(
        "attacks/base.py",
        "better = (success_new & ~best_success) | ((success_new == best_success) & (score_new > best_score))",
        "better = (success_new & ~best_success) | ((success_new == best_success) & (score_new < best_score))",
        "restarts keep the weaker point",
        ATTACK_TESTS,
    ),
    # statistics and findings
    Fault(
        "stats.py",
        "z, se = math.atanh(clipped), math.sqrt((1 + clipped * clipped / 2) / (n - 3))",
        "z, se = math.atanh(clipped), math.sqrt(1 / (n - 3))",
        "Spearman interval with the plain Fisher standard error",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "low = 0.0 if successes == 0 else max(0.0, centre - half)",
        "low = max(0.0, centre - half)",
        "Wilson lower end not exact at 0 of n",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "above, below = low > 0, high < 0",
        "above, below = low >= 0, high <= 0",
        "an interval touching 0 counts as clear of it",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "return [float(values.quantile(0.025)), float(values.quantile(0.975))]",
        "return [float(values.quantile(0.05)), float(values.quantile(0.95))]",
        "bootstrap interval at 90 % instead of 95 %",
        ("tests/analysis/test_findings.py", "tests/analysis/test_stats.py"),
    ),
    Fault(
        "sections/pse.py",
        'return "present" if low >= min_share else "absent" if high < min_share else "undetermined"',
        'return "present" if low > min_share else "absent" if high < min_share else "undetermined"',
        "a type at exactly the minimum share is not present (> for ≥)",
        STATS_TESTS,
    ),
    Fault(
        "sections/pse.py",
        'return "present" if low >= min_share else "absent" if high < min_share else "undetermined"',
        'return "present" if low >= min_share else "absent" if high <= min_share else "undetermined"',
        "a type whose upper bound equals the minimum share is absent (≤ for <)",
        STATS_TESTS,
    ),
    Fault(
        "sections/pse.py",
        '"verdict": "holds" if present >= 2 else "does not hold" if absent >= 2 else "inconclusive",',
        '"verdict": "holds" if present >= 2 else "does not hold" if absent >= 1 else "inconclusive",',
        "finding (i) fails with one type absent",
        STATS_TESTS,
    ),
    Fault(
        "sections/network.py",
        '[requirement(units, MIN_UNITS, "units"), probe, any_detector],',
        '[requirement(units, MIN_UNITS, "units"), probe],',
        "the sensitivity–IoU ρ judged with no detector in the layer",
        STATS_TESTS,
    ),
    Fault(
        "sections/verdicts.py",
        '    return entry.get("norm") == threat[0] and abs(entry["eps"] - threat[1]) < 1e-9',
        '    return entry.get("norm") == threat[0]',
        "a bounded attack at another radius judged inside the threat model",
        STATS_TESTS,
    ),
    Fault(
        "sections/cam.py",
        "            if not within_threat_model(entry, threat):\n                finding.update(verdict=OUTSIDE",
        "            if False:\n                finding.update(verdict=OUTSIDE",
        "CAM gains of an unbounded attack judged",
        STATS_TESTS,
    ),
    Fault(
        "cam/agreement.py",
        "    masked[rows, target] = -torch.inf",
        "    masked[rows, target] = masked[rows, target]",
        "the third class may be the target",
        CAM_TESTS,
    ),
    Fault(
        "cam/agreement.py",
        "other_promotion_target=against_other(promotion, x_adv),",
        "other_promotion_target=against_other(promotion, x),",
        "the promotion part's third-class region taken on x, not x_adv",
        CAM_TESTS,
    ),
    Fault(
        "sections/cam.py",
        'gain = entry[f"gain_{kind}_{region}_over_other"]',
        'gain = entry[f"gain_{kind}_{region}"]',
        "finding (ii) judged against the random region, not the third class's",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "rhos = np.abs(ry[orders] @ rx) / scale",
        "rhos = (ry[orders] @ rx) / scale",
        "permutation p one-sided",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "return float(np.mean(rhos >= observed - 1e-12))",
        "return float(np.mean(rhos > observed + 1e-12))",
        "permutation p leaves out orderings as extreme as the observed one",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "running = max(running, min(1.0, (m - rank) * p))",
        "running = min(1.0, m * p)",
        "Bonferroni in Holm's place",
        STATS_TESTS,
    ),
    Fault(
        "analysis/compare.py",
        '"ci95": spearman_interval(rho, n) if n >= MIN_FISHER_POINTS else [math.nan, math.nan],',
        '"ci95": spearman_interval(rho, n),',
        "Fisher interval below 10 checkpoints",
        COMPARE_TESTS,
    ),
    Fault(
        "analysis/compare.py",
        'row["below_minimum"] = [c for c, cell in found.items() if _finite(cell.value) and cell.n < cell.min_n]',
        'row["below_minimum"] = [c for c, cell in found.items() if _finite(cell.value) and cell.n <= cell.min_n]',
        "a point at exactly its minimum sample left out",
        COMPARE_TESTS,
    ),
    Fault(
        "sections/pse.py",
        '            if entry.get("bounded")\n',
        '            if entry.get("bounded") is not None\n',
        "comparison columns may come from an unbounded attack",
        COMPARE_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        'worst, over = worst & by_autoattack, [*over, "autoattack"]',
        'worst, over = worst, [*over, "autoattack"]',
        "AutoAttack left out of the headline worst case",
        ("tests/sections/test_robustness.py", "-k", "headline"),
    ),
    Fault(
        "sections/pse.py",
        "        elif n < MIN_FOOLED_IMAGES:",
        "        elif n < 1:",
        "image types judged below the minimum sample",
        STATS_TESTS,
    ),
    # 2026-12-06: mistakes an outside reviewer would try (equality, direction, off-by-one)
    Fault(
        "pse/categories.py",
        "category[ratio > tau] = int(Category.PROMOTION)",
        "category[ratio >= tau] = int(Category.PROMOTION)",
        "a group at PSR exactly τ is promotion-dominated (≥ for >)",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "(effect >= rho * strongest)",
        "(effect > rho * strongest)",
        "a group at exactly ρ of the strongest effect is inactive (> for ≥)",
        PSE_TESTS,
    ),
    Fault(
        "pse/categories.py",
        "return (promotion <= eps) | (suppression <= eps)",
        "return (promotion < eps) | (suppression < eps)",
        "an effect of exactly ε is not clamped",
        PSE_TESTS,
    ),
    Fault(
        "dissect/result.py",
        "return self.best_iou > self.iou_threshold",
        "return self.best_iou >= self.iou_threshold",
        "a unit at exactly the IoU threshold is a detector",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/tally.py",
        "active = (upsampled > self.thresholds[None, :, None, None])",
        "active = (upsampled >= self.thresholds[None, :, None, None])",
        "a unit's mask includes pixels at exactly its threshold",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/tally.py",
        'return F.interpolate(eye, size=size_out, mode="linear", align_corners=False)',
        'return F.interpolate(eye, size=size_out, mode="linear", align_corners=True)',
        "feature maps upsampled with aligned corners",
        DISSECT_TESTS,
    ),
    Fault(
        "dissect/sensitivity.py",
        "k = max(1, round(top_fraction * num_units))",
        "k = max(1, int(top_fraction * num_units))",
        "top-k rounds down",
        DISSECT_TESTS,
    ),
    Fault(
        "training/adversarial.py",
        "return (boosted + beta * kl * (1 - p_true)).mean()",
        "return (boosted + beta * kl * p_true).mean()",
        "MART weights the KL by p_y instead of 1 − p_y",
        (*TRAINING_TESTS, "-k", "mart"),
    ),
    Fault(
        "training/adversarial.py",
        "F.log_softmax(logits_adv, dim=1), F.log_softmax(logits, dim=1), log_target=True",
        "F.log_softmax(logits, dim=1), F.log_softmax(logits_adv, dim=1), log_target=True",
        "TRADES' KL in the other direction",
        (*TRAINING_TESTS, "-k", "trades"),
    ),
    Fault(
        "attacks/pgd.py",
        "delta[rows[going]] = stepped[going]",
        "delta[rows] = stepped",
        "early stopping lets a fooled sample step on",
        ("tests/attacks/test_attacks.py", "tests/sections/test_robustness.py", "-k", "early"),
    ),
    Fault(
        "sections/verdicts.py",
        "if have < need]",
        "if have <= need]",
        "a finding at exactly its minimum sample is insufficient",
        STATS_TESTS,
    ),
    Fault(
        "stats.py",
        "centre = (p + z * z / (2 * n)) / denominator",
        "centre = (p + z * z / n) / denominator",
        "Wilson centre shifted by z²/n, not z²/2n",
        STATS_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        "held |= distance > presets.unbounded_radius(attack.norm, self.norm, self.eps)",
        "held |= distance >= presets.unbounded_radius(attack.norm, self.norm, self.eps)",
        "a C&W break at exactly the radius counted robust",
        ("tests/sections/test_robustness.py",),
    ),
    # training
    Fault(
        "training/adversarial.py",
        "return self.criterion(logits, y) + self.hparams.beta * robust, logits",
        "return self.criterion(logits, y) + robust, logits",
        "TRADES ignores β",
        (*TRAINING_TESTS, "-k", "trades"),
    ),
    Fault(
        "training/adversarial.py",
        "        logits = self(x_adv)",
        "        logits = self(x)",
        "PGD-AT trains on the clean batch",
        (*TRAINING_TESTS, "-k", "pgd_at or fast_at"),
    ),
    Fault(
        "training/pse_at.py",
        "return energy[0] / energy.sum()",
        "return energy[1] / energy.sum()",
        "PSE-AT steers by the promotion share",
        (*TRAINING_TESTS, "-k", "pse_at or shares"),
    ),
    Fault(
        "sections/base.py",
        "    sees_gathered_images = False",
        "    sees_gathered_images = True",
        "robustness measured on the gathered images too, not the images asked for",
        ("tests/analysis/test_min_fooled.py", "-k", "only_the_sections"),
    ),
    Fault(
        "analysis/engine.py",
        "            batches = self.probe_batches(rank, world_size)",
        "            batches = self.batches(rank=rank, world_size=world_size)",
        "a spread analysis cuts asked and gathered images into shared batches",
        ("tests/analysis/test_spread.py", "-k", "gathered"),
    ),
    Fault(
        "training/adversarial.py",
        "            self.hparams.eps = standard_eps(datamodule, self.hparams.norm)",
        "            self.hparams.eps = standard_eps(None, self.hparams.norm)",
        "a module without eps trains at CIFAR's radius whatever the data",
        (*TRAINING_TESTS, "-k", "standard_radius"),
    ),
    Fault(
        "training/adversarial.py",
        "        return self.hparams.step_size if self.hparams.step_size is not None else 1.25 * self.hparams.eps",
        "        return self.hparams.step_size",
        "FGSM-RS's step left to PGD's 2.5·ε/steps",
        (*TRAINING_TESTS, "-k", "standard_radius or fast_at"),
    ),
    # analysis/prerequisites.py and the sections' settings (#42 item 3)
    Fault(
        "analysis/prerequisites.py",
        "not (has_cam_head(model) and at_feature_layer) else cam.method",
        "not has_cam_head(model) else cam.method",
        "CAM kept at a layer other than the feature layer its head pools",
        ("tests/analysis/test_settings.py",),
    ),
    Fault(
        "analysis/prerequisites.py",
        "    if analysis.devices * analysis.num_nodes > 1:",
        "    if analysis.devices * analysis.num_nodes > 2:",
        "masking let run over two processes",
        ("tests/analysis/test_settings.py",),
    ),
    Fault(
        "cam/settings.py",
        "if not 0 <= self.threshold <= 1:",
        "if not 0 <= self.threshold < 1:",
        "a CAM threshold of exactly 1 refused",
        ("tests/analysis/test_settings.py",),
    ),
    Fault(
        "dissect/settings.py",
        "if self.num_concept_images < 1:",
        "if self.num_concept_images <= 1:",
        "a one-image concept set refused",
        ("tests/analysis/test_settings.py",),
    ),
    # the robustness cascade (#44)
    Fault(
        "attacks/cascade.py",
        "attacked &= closest <= cascade.near[name]",
        "attacked &= closest < cascade.near[name]",
        "a sample at exactly a gate's margin passed over",
        CASCADE_TESTS,
    ),
    Fault(
        "attacks/cascade.py",
        "robust &= ~broken",
        "robust &= torch.ones_like(broken)",
        "later stages attack samples an earlier stage broke",
        CASCADE_TESTS,
    ),
    Fault(
        "attacks/cascade.py",
        "closest[idx] = torch.minimum(closest[idx], torch.as_tensor(near, device=y.device))",
        "closest[idx] = torch.as_tensor(near, device=y.device).expand(idx.numel()).clone()",
        "a gate reads the last stage's margin, not the smallest so far",
        CASCADE_TESTS,
    ),
    Fault(
        "attacks/cascade.py",
        "return margin(logits, y) / (top[:, 0] - top[:, 2]).clamp_min(1e-12)",
        "return margin(logits, y) / (top[:, 0] - top[:, 1]).clamp_min(1e-12)",
        "boundary margin scaled by the runner-up's gap, not the third's",
        CASCADE_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        'columns["given_up"] = (passed_over & robust).double()',
        'columns["given_up"] = passed_over.double()',
        "samples a gate passed over counted as given up though a later stage broke them",
        CASCADE_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        "broke = (before if in_cascade else correct) & ~robust",
        "broke = correct & ~robust",
        "a cascade stage credited with the breaks of the stages before it",
        CASCADE_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        'if white_before and attacks[name]["broke"] >= 2:',
        'if white_before and attacks[name]["broke"] >= 1:',
        "one black-box break after the white-box stages flagged as gradient masking",
        CASCADE_TESTS,
    ),
    Fault(
        "attacks/apgd.py",
        "x_adv = self._step(x, x_adv, grad, self.eps, mask)",
        "x_adv = self._step(x, x_adv, grad, self.eps / 2, mask)",
        "ODI steps of ε/2 instead of ε",
        ODI_TESTS,
    ),
    Fault(
        "attacks/apgd.py",
        "dtype=x.dtype) * 2 - 1",
        "dtype=x.dtype)",
        "ODI directions drawn from [0, 1] instead of [−1, 1]",
        ODI_TESTS,
    ),
    Fault(
        "attacks/apgd.py",
        "return (self.steps + phases + self.odi_steps) * self.restarts",
        "return (self.steps + phases) * self.restarts",
        "ODI steps left out of the budget",
        ODI_TESTS,
    ),
    Fault(
        "attacks/presets.py",
        "restarts=restarts, seed=seed + offset",
        "restarts=restarts, seed=seed",
        "the cascade's restart tiers share one seed (the same starts again)",
        CASCADE_TESTS,
    ),
    Fault(
        "sections/robustness.py",
        "white_before = [k for k in white if order.index(k) < order.index(name)]",
        "white_before = [k for k in white if order.index(name) > max(order.index(w) for w in white)]",
        "the gradient-masking flag silenced by white-box stages after the black-box one",
        CASCADE_TESTS,
    ),
]


def run_fault(fault: Fault, timeout: int) -> tuple[str, float]:
    """``(outcome, seconds)``: caught, survived, stale (text not found once) or timeout."""
    path = PACKAGE / fault.path
    original = path.read_text()
    if original.count(fault.old) != 1:
        return "stale", 0.0
    started = time.perf_counter()
    try:
        path.write_text(original.replace(fault.old, fault.new))
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *fault.tests]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        outcome = "survived" if result.returncode == 0 else "caught"
    except subprocess.TimeoutExpired:
        outcome = "timeout"
    finally:
        path.write_text(original)
    return outcome, time.perf_counter() - started


def exit_on_sigterm(signum: int, frame) -> None:
    """SIGTERM (``kill``, a session's end) as an exit, so ``run_fault``'s ``finally`` restores the
    file it changed; ``subprocess.run`` kills the tests it started on the way out."""
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="*", help="fault numbers (1-based) to run")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per fault's tests")
    args = parser.parse_args()
    chosen = [(i, f) for i, f in enumerate(FAULTS, 1) if not args.only or i in args.only]
    results = []
    print("| # | module | fault | tests | outcome | s |\n|---|---|---|---|---|---|", flush=True)
    for number, fault in chosen:
        outcome, seconds = run_fault(fault, args.timeout)
        results.append(outcome)
        tests = " ".join(fault.tests).replace("tests/", "")
        print(f"| {number} | {fault.path} | {fault.what} | {tests} | {outcome} | {seconds:.0f} |", flush=True)
    judged = [r for r in results if r in ("caught", "survived")]
    caught = sum(r == "caught" for r in judged)
    print(f"\ncaught {caught} of {len(judged)} ({100 * caught / max(len(judged), 1):.0f} %)", flush=True)


if __name__ == "__main__":
    main()
