"""Our Square against the reference code (AutoAttack's ``square.py``, by the paper's authors) at ℓ∞,
ℓ2 or ℓ1: the same images, the same query budget and schedule, several seeds each; prints the robust
counts per seed and their means.

    python benchmarks/square_reference.py --ckpt runs/fmnist/fast_at/checkpoints/last.ckpt --norm l2 --eps 1.5
    python benchmarks/square_reference.py --state-dict .cache/tests/small_cnn_<hash>.pt --norm l2 --eps 2

``--state-dict``: a ``ClassifierModule`` state dict of the test suite's synthetic small CNN (the file
``tests/conftest.py`` caches); its images are the first ``--samples`` of the synthetic validation split.
With ``--ckpt`` they are the checkpoint's seeded test probe.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from lightning_pse.attacks import Square
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.data import SyntheticDataModule, unpack_batch
from lightning_pse.training import ClassifierModule

REFERENCE_NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}  # our names → the reference's


def model_and_images(args) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    if args.ckpt:
        checkpoint = read_checkpoint(args.ckpt)
        model, data = load_module(checkpoint).model, load_datamodule(checkpoint)
        probe = data.probe_set(args.samples, split="test")
    else:
        data = SyntheticDataModule(num_train=10000, num_val=1000, num_test=500, batch_size=128)
        module = ClassifierModule(model="small_cnn", num_classes=data.num_classes, mean=data.mean, std=data.std)
        module.load_state_dict(torch.load(args.state_dict, weights_only=True))
        model, probe = module.model, torch.utils.data.Subset(data.split("val"), range(args.samples))
    x, y = unpack_batch(next(iter(torch.utils.data.DataLoader(probe, batch_size=len(probe)))))
    return model.eval(), x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt")
    source.add_argument("--state-dict")
    parser.add_argument("--norm", choices=list(REFERENCE_NORMS), required=True)
    parser.add_argument("--eps", type=float, required=True)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    from pyautoattack.square import SquareAttack

    model, x, y = model_and_images(args)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    counts = {"ours": [], "reference": []}
    for seed in range(args.seeds):
        ours = Square(eps=args.eps, norm=args.norm, n_queries=args.queries, seed=seed).run(model, x, y)
        counts["ours"].append(int((clean & ~ours.success).sum()))
        reference = SquareAttack(
            model, n_queries=args.queries, eps=args.eps, norm=REFERENCE_NORMS[args.norm], seed=seed, resc_schedule=True
        )
        with torch.no_grad():
            counts["reference"].append(int((clean & (model(reference.perturb(x, y)).argmax(1) == y)).sum()))
        print(f"seed {seed}: ours {counts['ours'][-1]}, reference {counts['reference'][-1]}", flush=True)
    print(f"{args.norm} eps={args.eps:g} queries={args.queries} images={len(y)} clean={int(clean.sum())}")
    for name, values in counts.items():
        print(f"{name}: robust {values}, mean {statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} (sd)")


if __name__ == "__main__":
    main()
