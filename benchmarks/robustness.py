"""The robustness section of ``analyze.py`` on a checkpoint: today's attacks, which stop working on
a sample once it is fooled, against the previous code path (every attack runs all its steps on
every sample it started), in one run.

    python benchmarks/robustness.py [--ckpt runs/demo/checkpoints/last.ckpt] [--samples 64] [--eps 16/255]

Prints per attack the robust accuracy of both paths (the new one must be equal or lower, never
higher) and the ratio of their times; the section's total ratio is the target (≥ 2×).
"""

from __future__ import annotations

import argparse
import time

import torch

from lightning_pse.analysis.options import parse_eps
from lightning_pse.attacks import APGD, CW, PGD, presets
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.data import unpack_batch
from lightning_pse.sections import AttackRuns, ProbeBatch, RobustnessSection


def previous_path(attacks: dict) -> dict:
    """The same attacks as before per-step stopping: PGD judges its last iterate, APGD and C&W run
    every step on every sample."""
    for attack in attacks.values():
        if isinstance(attack, (PGD, APGD)):
            attack.early_stop = False
        if isinstance(attack, CW):
            attack.stop_radius = None
    return attacks


def timed_section(model, x, y, attacks: dict, eps: float) -> tuple[dict, dict]:
    """The robustness section on one batch; each attack's run is timed (the section reuses it)."""
    section = RobustnessSection(attacks, "linf", eps)
    section.reset(x.device)
    batch = ProbeBatch.of(model, x, y)
    runs = AttackRuns(model, batch)
    seconds = {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        runs.attacked(attack)
        seconds[name] = time.perf_counter() - start
    section.update(model, batch, runs)
    report = section.compute()
    return {name: a["robust"] for name, a in report["attacks"].items()} | {
        "worst": report["worst_case"]["count"]
    }, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="runs/demo/checkpoints/last.ckpt")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--eps", type=parse_eps, default=None, help="default: the model's training ε")
    args = parser.parse_args()
    checkpoint = read_checkpoint(args.ckpt)
    module, data = load_module(checkpoint), load_datamodule(checkpoint)
    model = module.model.eval()
    probe = data.probe_set(args.samples, split="test")
    x, y = unpack_batch(next(iter(torch.utils.data.DataLoader(probe, batch_size=len(probe)))))
    eps = args.eps if args.eps is not None else float(module.hparams.get("eps", 8 / 255))
    new_robust, new_t = timed_section(model, x, y, presets.autoattack_like(eps, data.num_classes), eps)
    old_robust, old_t = timed_section(model, x, y, previous_path(presets.autoattack_like(eps, data.num_classes)), eps)
    print(
        f"checkpoint={args.ckpt} samples={len(probe)} eps={eps:.4f} torch={torch.__version__} "
        f"threads={torch.get_num_threads()}"
    )
    print(f"{'attack':<10} {'robust (previous → now)':>24} {'previous s':>11} {'now s':>8} {'speed-up':>9}")
    for name in new_t:
        assert new_robust[name] <= old_robust[name], f"{name}: robust accuracy rose"
        print(
            f"{name:<10} {old_robust[name]:>12} → {new_robust[name]:<9} {old_t[name]:>11.1f} {new_t[name]:>8.1f} "
            f"{old_t[name] / new_t[name]:>8.2f}x"
        )
    print(f"worst case robust: previous {old_robust['worst']}, now {new_robust['worst']} of {len(probe)}")
    total_old, total_new = sum(old_t.values()), sum(new_t.values())
    print(f"section total: previous {total_old:.1f} s, now {total_new:.1f} s, {total_old / total_new:.2f}x faster")


if __name__ == "__main__":
    main()
