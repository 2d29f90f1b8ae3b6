"""Standard training, PGD-AT, TRADES and PSE-AT on the synthetic benchmark, on equal budgets.

    python benchmarks/compare_training.py [--out runs/compare] [--num-samples 500]

Trains each mode with its config (``configs/synthetic_{standard,trades,pse_at}.yaml`` and, for
PGD-AT, ``configs/default.yaml``,
the same data, model, optimiser and number of epochs) through ``train.py fit``, then evaluates
each run's ``last.ckpt`` on a fixed probe subset of the *test* split: clean accuracy, PGD-20
(ℓ∞ 8/255, step 2/255, random start) and APGD-CE (ℓ∞ 8/255, 100 steps) robust accuracy. Prints a
Markdown table and which adversarial method won on each robust metric.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from lightning_pse.attacks import APGD, PGD, robust_correct
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint

REPO = Path(__file__).resolve().parent.parent
MODES = ("standard", "pgd_at", "trades", "pse_at")
CONFIGS = {
    mode: REPO / "configs" / ("default.yaml" if mode == "pgd_at" else f"synthetic_{mode}.yaml") for mode in MODES
}


def train(mode: str, out: Path) -> float:
    """Seconds ``train.py fit`` takes for the mode's config."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "fit",
            "--config",
            str(CONFIGS[mode]),
            "--trainer.default_root_dir",
            str(out / mode),
            "--trainer.enable_progress_bar",
            "false",
        ],
        check=True,
        env={**os.environ, "WANDB_MODE": "offline"},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def evaluate(checkpoint_path: Path, num_samples: int) -> dict[str, float]:
    checkpoint = read_checkpoint(checkpoint_path)
    model = load_module(checkpoint).model
    probe = load_datamodule(checkpoint).probe_set(num_samples, split="test")
    x = torch.stack([probe[i]["image"] for i in range(len(probe))])
    y = torch.tensor([int(probe[i]["label"]) for i in range(len(probe))])
    with torch.no_grad():
        correct = model(x).argmax(dim=1) == y
    attacks = {
        "pgd20": PGD(eps=8 / 255, steps=20, step_size=2 / 255, seed=0),
        "apgd_ce": APGD(eps=8 / 255, steps=100, loss="ce", seed=0),
    }
    out = {"clean": correct.float().mean().item()}
    for name, attack in attacks.items():
        out[name] = robust_correct(attack, model, x, y, correct).float().mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "compare")
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    args = parser.parse_args()
    modes = args.modes.split(",")
    rows = {}
    for mode in modes:
        seconds = train(mode, args.out)
        rows[mode] = {**evaluate(args.out / mode / "checkpoints" / "last.ckpt", args.num_samples), "seconds": seconds}
        print(f"{mode}: {rows[mode]}", flush=True)
    print(f"\n{args.num_samples} test images, ℓ∞ ε = 8/255\n")
    print("| mode | clean acc | PGD-20 acc | APGD-CE acc | train.py fit (s) |")
    print("|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['clean']:.3f} | {r['pgd20']:.3f} | {r['apgd_ce']:.3f} | {r['seconds']:.0f} |")
    adversarial = [m for m in modes if m != "standard"]
    for metric in ("pgd20", "apgd_ce"):
        if adversarial:
            best = max(adversarial, key=lambda m: rows[m][metric])
            print(f"\nbest {metric} robust accuracy among adversarial methods: {best} ({rows[best][metric]:.3f})")


if __name__ == "__main__":
    main()
