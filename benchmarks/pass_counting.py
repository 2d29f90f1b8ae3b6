"""What counting passes costs: ``Attack.run`` (the attack inside ``counting_passes``, a forward hook
on the model and a hook on each output that needs a gradient) against the same attack and final
evaluation without the hooks, interleaved, on the small CNN (or ``--model``) and 64 random images.

    python benchmarks/pass_counting.py [--model small_cnn] [--repeats 7]
"""

from __future__ import annotations

import argparse

import torch
from timing import device_and_model, interleaved_medians

from lightning_pse.attacks import PGD
from lightning_pse.attacks.base import AttackResult
from lightning_pse.models.state import eval_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device, model = device_and_model(args.model)
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        y = model(x).argmax(1)
    attack = PGD(eps=8 / 255, steps=20, seed=0)

    def uncounted() -> AttackResult:
        x_adv = attack(model, x, y)
        with eval_mode(model), torch.no_grad():
            logits = model(x_adv)
        return AttackResult.measure(x, x_adv, logits, y, None)

    times = interleaved_medians(
        {"counted": lambda: attack.run(model, x, y), "uncounted": uncounted}, device, args.repeats
    )
    passes = attack.run(model, x, y).passes
    print(f"{args.model}, PGD-20 on 64 images ({device}): {passes.forward} forward, {passes.backward} backward passes")
    ratio = times["counted"] / times["uncounted"]
    print(f"counted {times['counted']:.3f} s, uncounted {times['uncounted']:.3f} s: ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
