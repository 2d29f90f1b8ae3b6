"""Our robustness cascade replayed against a per-sample record of AutoAttack: AutoAttack's standard
version runs once per model (``record``), and ``presets.cascade`` is then replayed on the same images
in minutes (``replay``), so a change to the cascade is checked against each model's AutoAttack breaks
without running AutoAttack again.

    python benchmarks/cascade_replay.py record --ckpt runs/fmnist/pgd_at/checkpoints/last.ckpt \\
        [--num-samples 500] [--eps 0.1] [--out runs/cascade_replay]
    python benchmarks/cascade_replay.py replay --ckpt runs/fmnist/pgd_at/checkpoints/last.ckpt \\
        [--num-samples 500] [--eps 0.1] [--seed 0] [--out runs/cascade_replay]

``record`` runs AutoAttack's attacks one after another, each on the samples the earlier ones left
robust (as its own evaluation does, with its seeds; the images as one batch), and keeps in
``<out>/<name>_<n>_eps<ε>.pt`` (``name`` as benchmarks/robustness.py names the model) which samples were
classified correctly, which attack broke each (``broken_by``: its index in ``ATTACKS``, −1 for
none) and the forward + backward passes each attack cost (each part also counts AutoAttack's clean
pass and checks of the model over its samples, 8 passes a sample in pyautoattack 0.2, which its single
run makes once: a few thousand passes in a million).
``replay`` prints, per stage of the cascade, the samples it attacked and broke, its passes and
seconds and the closest boundary margins (``cascade.boundary_margin``) of what it broke before it
broke them; then the samples only AutoAttack broke, with the attack that broke each and the
cascade's closest margin on it, and the ratio of passes. It is a tuning aid; the verdict is
benchmarks/robustness.py's, which runs both sides in one process and times them.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from robustness import run_name  # benchmarks/robustness.py, beside this script
from torch import Tensor, nn

from lightning_pse.analysis.options import parse_eps
from lightning_pse.attacks import presets
from lightning_pse.attacks.cascade import Cascade, run_cascade
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.data import unpack_batch
from lightning_pse.models.passes import counting_passes
from lightning_pse.sections.autoattack import AUTOATTACK_ATTACKS, autoattack_robust
from lightning_pse.sections.robustness import RobustnessSection

REPO = Path(__file__).resolve().parent.parent
ATTACKS = AUTOATTACK_ATTACKS["standard"]


def probe_images(data, num_samples: int) -> tuple[Tensor, Tensor]:
    """``x`` ``[N, C, H, W]`` and ``y`` ``[N]``: the first ``num_samples`` test images of the seeded
    probe subset (seed 0), the images ``analyze.py`` and benchmarks/robustness.py evaluate."""
    subset = data.probe_set(num_samples, split="test", seed=0)
    images, labels = zip(*(unpack_batch(subset[i]) for i in range(len(subset))))
    return torch.stack(images), torch.as_tensor(labels)


def record(model: nn.Module, x: Tensor, y: Tensor, eps: float, norm: str) -> dict:
    """AutoAttack's standard version attack by attack: ``correct`` ``[N]`` bool, ``broken_by``
    ``[N]`` long (index in ``ATTACKS`` of the attack that broke the sample; −1: robust or
    misclassified), ``passes`` ``{attack: forward + backward}``."""
    with torch.no_grad():
        correct = model(x).argmax(dim=1) == y
    robust, broken_by, passes = correct.clone(), torch.full_like(y, -1), {}
    for index, attack in enumerate(ATTACKS):
        remaining = robust.nonzero().squeeze(1)
        if not remaining.numel():
            passes[attack] = 0
            continue
        held, cost = autoattack_robust(model, x[remaining], y[remaining], eps, norm, attacks=[attack])
        broken_by[remaining[~held]] = index
        robust[remaining[~held]] = False
        passes[attack] = cost.forward + cost.backward
    return {"correct": correct, "broken_by": broken_by, "passes": passes, "eps": eps, "norm": norm}


def replay(model: nn.Module, x: Tensor, y: Tensor, cascade: Cascade, autoattack: dict) -> dict:
    """``cascade`` on the correctly classified samples, compared per sample with the record
    ``autoattack``: ``stages`` (name → attacked, broken, passes, seconds, the broken samples'
    closest margins before the stage), ``only_autoattack`` (sample → (attack, the cascade's closest
    margin)), ``only_ours`` (count), ``passes`` (ours) and ``ratio`` (ours / AutoAttack's)."""
    section = RobustnessSection(cascade, autoattack["norm"], autoattack["eps"])
    correct = autoattack["correct"]
    with counting_passes(model) as total:
        outcomes = run_cascade(model, x, y, correct, section.stages, section.held)
    robust = correct.clone()
    closest = torch.full(y.shape, float("inf"))  # before the stage: the earlier stages' smallest margins
    stages = {}
    for name, stage in outcomes.items():
        robust &= ~stage.broken
        stages[name] = {
            "attacked": int(stage.attacked.sum()),
            "broken": int(stage.broken.sum()),
            "passes": stage.passes.forward + stage.passes.backward,
            "seconds": stage.seconds,
            "margins_before": sorted(round(float(m), 3) for m in closest[stage.broken]),
        }
        closest = stage.closest
    by_autoattack = autoattack["broken_by"] >= 0
    missed = (robust & by_autoattack).nonzero().squeeze(1).tolist()
    passes = total.forward + total.backward
    return {
        "stages": stages,
        "only_autoattack": {i: (ATTACKS[autoattack["broken_by"][i]], round(float(closest[i]), 3)) for i in missed},
        "only_ours": int((correct & ~robust & ~by_autoattack).sum()),
        "passes": passes,
        "ratio": passes / sum(autoattack["passes"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("record", "replay"))
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--eps", type=parse_eps, default=None, help="ℓ∞ radius (default: the model's training ε)")
    parser.add_argument("--seed", type=int, default=0, help="the cascade's seed (replay)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "cascade_replay")
    args = parser.parse_args()
    checkpoint = read_checkpoint(args.ckpt)
    module, data = load_module(checkpoint), load_datamodule(checkpoint)
    model = module.model.eval()
    norm, eps = presets.model_threat(dict(module.hparams), data, "linf", args.eps)
    x, y = probe_images(data, args.num_samples)
    path = args.out / f"{run_name(args.ckpt)}_{len(y)}_eps{eps:.4g}.pt"
    started = time.perf_counter()
    if args.command == "record":
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(record(model, x, y, eps, norm), path)
        print(f"{path}: {time.perf_counter() - started:.0f} s")
        return
    if not path.exists():
        raise SystemExit(
            f"no AutoAttack record {path}: run `cascade_replay.py record` with the same --ckpt, --num-samples "
            "and --eps first"
        )
    autoattack = torch.load(path, weights_only=True)
    outcome = replay(model, x, y, presets.cascade(eps, data.num_classes, norm, args.seed), autoattack)
    for name, stage in outcome["stages"].items():
        margins = [m for m in stage["margins_before"] if math.isfinite(m)][:12]
        print(
            f"  {name:14s} attacked {stage['attacked']:4d}  broke {stage['broken']:4d}  passes {stage['passes']:9,}  "
            f"{stage['seconds']:5.0f} s  broken at margins {margins}"
        )
    print(
        f"seed {args.seed}: only AutoAttack {outcome['only_autoattack']}, only ours {outcome['only_ours']}, "
        f"passes {outcome['passes']:,} = {outcome['ratio']:.3f}× AutoAttack's ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
