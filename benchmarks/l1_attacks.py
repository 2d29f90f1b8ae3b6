"""Our ℓ1 attacks against AutoAttack's ℓ1 standard version on one checkpoint, on the same seeded
test images: APGD-CE at ℓ1 with and without its phases at larger radii, the default ℓ1 cascade
(PGD-20, APGD-CE, APGD-T, C&W, EAD) attack by attack and its worst case, and AutoAttack (APGD-ℓ1,
APGD-T-ℓ1, FAB-T-ℓ1, Square-ℓ1).

    python benchmarks/l1_attacks.py --ckpt runs/fmnist/fast_at/checkpoints/last.ckpt [--samples 64] [--eps 10]

Prints, per attack, the robust count with its 95 % Wilson interval (``evaluate``'s robustness
section, so every number is judged as the report judges it: EAD counts as a break only within ε).
"""

from __future__ import annotations

import argparse

import torch

from lightning_pse.analysis.options import parse_eps
from lightning_pse.attacks import APGD, presets
from lightning_pse.attacks.radii import standard_eps
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.data import unpack_batch
from lightning_pse.sections import AttackRuns, ProbeBatch, RobustnessSection


def variants(eps: float) -> dict:
    """What the cascade does not show: APGD-CE at ℓ1 with one phase at ε (no larger radii first)."""
    return {"apgd_ce one radius": APGD(eps=eps, norm="l1", large_radii=False, seed=0)}


def section_report(model, x, y, attacks: dict, eps: float, autoattack: str | None = None) -> dict:
    section = RobustnessSection(attacks, "l1", eps, autoattack=autoattack)
    section.reset(x.device)
    batch = ProbeBatch.of(model, x, y)
    section.update(model, batch, AttackRuns(model, batch))
    return section.compute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--eps", type=parse_eps, default=None, help="default: the dataset's standard ℓ1 radius")
    args = parser.parse_args()
    checkpoint = read_checkpoint(args.ckpt)
    model, data = load_module(checkpoint).model.eval(), load_datamodule(checkpoint)
    probe = data.probe_set(args.samples, split="test")
    x, y = unpack_batch(next(iter(torch.utils.data.DataLoader(probe, batch_size=len(probe)))))
    eps = args.eps if args.eps is not None else standard_eps(data, "l1")
    rows = []
    for name, attack in variants(eps).items():
        rows.append((name, section_report(model, x, y, {name: attack}, eps)["worst_case"]))
        print(f"{name}: done", flush=True)
    cascade = section_report(model, x, y, presets.autoattack_like(eps, data.num_classes, "l1"), eps, "standard")
    rows += [(f"cascade {name}", entry) for name, entry in cascade["attacks"].items()]
    rows += [("cascade worst case", cascade["worst_case"]), ("AutoAttack ℓ1 standard", cascade["autoattack"])]
    print(f"checkpoint={args.ckpt} samples={len(y)} ℓ1 eps={eps:g} torch={torch.__version__}")
    print(f"clean: {cascade['clean']['count']}/{len(y)}")
    for name, entry in rows:
        count = entry.get("robust", entry.get("count"))
        low, high = entry["ci95"]
        print(f"{name:<26} robust {count:>3}/{len(y)}  [{low:.3f}, {high:.3f}]")
    print(f"broken only by AutoAttack: {cascade['autoattack']['broken_only_by_autoattack']}")


if __name__ == "__main__":
    main()
