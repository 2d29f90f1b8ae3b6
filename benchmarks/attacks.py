"""Attack speed against torchattacks and against the forward+backward floor, in one run.

    python benchmarks/attacks.py [--model small_cnn] [--batch 256] [--repeats 5] [--apgd-steps 100]

The model is first trained for one quick epoch on the synthetic benchmark, so that, as in real
use, most points are classified correctly (APGD, ours and AutoAttack's, attacks only those).

Prints, for PGD-10 (ℓ∞ 8/255, step 2/255, random start) and APGD-CE, the median wall time of
ours and of torchattacks on the same model and batch, their ratio, and our ratio to the floor:
``steps × one forward+backward`` (gradient w.r.t. the input) of the batch the attack works on
(all of it for PGD; for APGD the points classified correctly, ``steps + 1`` passes). Timings are
interleaved (ours, reference, floor) so that drift hits all three alike.
"""

from __future__ import annotations

import argparse

import torch
import torchattacks
from timing import device_and_model, interleaved_medians

from lightning_pse.attacks import APGD, PGD
from lightning_pse.data.synthetic import generate_shapes


def floor(model, x, y, steps: int) -> None:
    for _ in range(steps):
        xr = x.detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xr), y)
        torch.autograd.grad(loss, xr)


def quick_train(model, device, num: int = 12000, batch: int = 128) -> None:
    data = generate_shapes(num, seed=1, distractor_prob=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=-(-num // batch))
    model.train()
    for i in range(0, num, batch):
        x, y = data.images[i : i + batch].to(device), data.labels[i : i + batch].to(device)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--apgd-steps", type=int, default=100)
    args = parser.parse_args()
    device, model = device_and_model(args.model)
    data = generate_shapes(args.batch, seed=0)
    x, y = data.images.to(device), data.labels.to(device)
    quick_train(model, device)
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    clean = correct.float().mean().item()
    eps = 8 / 255
    cases = {
        "PGD-10": (
            lambda: PGD(eps=eps, steps=10, step_size=2 / 255, seed=0)(model, x, y),
            lambda: torchattacks.PGD(model, eps=eps, alpha=2 / 255, steps=10)(x, y),
            lambda: floor(model, x, y, 10),
        ),
        f"APGD-CE ({args.apgd_steps} steps)": (
            lambda: APGD(eps=eps, steps=args.apgd_steps, seed=0)(model, x, y),
            lambda: torchattacks.APGD(model, eps=eps, steps=args.apgd_steps, loss="ce", seed=0)(x, y),
            lambda: floor(model, x[correct], y[correct], args.apgd_steps + 1),
        ),
    }
    print(
        f"device={device.type} model={args.model} batch={args.batch} clean_acc={clean:.3f} "
        f"repeats={args.repeats} torch={torch.__version__}"
    )
    print(f"{'attack':<24}{'ours s':>9}{'torchattacks s':>16}{'floor s':>9}{'ours/ref':>10}{'ours/floor':>12}")
    for name, (ours, ref, base) in cases.items():
        t = interleaved_medians({"ours": ours, "ref": ref, "floor": base}, device, args.repeats)
        print(
            f"{name:<24}{t['ours']:>9.3f}{t['ref']:>16.3f}{t['floor']:>9.3f}"
            f"{t['ours'] / t['ref']:>10.3f}{t['ours'] / t['floor']:>12.3f}"
        )


if __name__ == "__main__":
    main()
