"""PSE speed: images/second of both estimators, and the ablation estimator against its floor.

    python benchmarks/pse.py [--model small_cnn] [--batch 32] [--group-size 2] [--repeats 3]

The floor is ``groups × one forward pass of the batch``: the same number of images pushed
through the model in batches of ``--max-batch`` with no other work. A dense ℓ∞ PGD perturbation
touches every group, so every (image, group) pair is evaluated.
"""

from __future__ import annotations

import argparse

import torch
from timing import device_and_model, interleaved_medians

from lightning_pse.attacks import PGD
from lightning_pse.data.synthetic import generate_shapes
from lightning_pse.pse import GroupGrid, analyze


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--group-size", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device, model = device_and_model(args.model)
    data = generate_shapes(args.batch, seed=0)
    x, y = data.images.to(device), data.labels.to(device)
    target = (y + 1) % 10
    x_adv = PGD(eps=8 / 255, steps=5, targeted=True, seed=0)(model, x, y, target=target)
    grid = GroupGrid(x.shape[-2], x.shape[-1], args.group_size)
    total = args.batch * grid.num_groups
    stacked = x.repeat_interleave(min(args.max_batch, total) // args.batch or 1, dim=0)[: args.max_batch]

    def floor():
        with torch.no_grad():
            for start in range(0, total, args.max_batch):
                model(stacked[: min(args.max_batch, total - start)])

    cases = {
        "ablation": lambda: analyze(model, x, x_adv, y, target, args.group_size, max_batch=args.max_batch),
        "gradient": lambda: analyze(model, x, x_adv, y, target, args.group_size, estimator="gradient"),
        "floor": floor,
    }
    t = interleaved_medians(cases, device, args.repeats)
    print(
        f"device={device.type} model={args.model} batch={args.batch} groups={grid.num_groups} "
        f"({args.group_size}x{args.group_size}) torch={torch.__version__}"
    )
    print(
        f"ablation: {t['ablation']:.3f} s, {args.batch / t['ablation']:.1f} images/s; "
        f"floor ({grid.num_groups} groups x forward of the batch): {t['floor']:.3f} s; "
        f"ablation/floor = {t['ablation'] / t['floor']:.3f}"
    )
    print(f"gradient: {t['gradient']:.3f} s, {args.batch / t['gradient']:.1f} images/s")


if __name__ == "__main__":
    main()
