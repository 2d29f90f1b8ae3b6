"""Dissection speed: probe images/second for the full dissection of one layer.

    python benchmarks/dissect.py [--model small_cnn] [--layer body.7] [--images 1024] [--batch 128] [--repeats 3]

Cases: ``exact`` and ``sampled`` quantiles on batches already in memory (the dissection itself),
``loader`` the exact one reading ``SyntheticConcepts`` through a DataLoader (what the callback
does), and the floor: the two forward passes over the probe set that dissection needs (one for
the quantiles, one for the IoU tally) with no other work.
"""

from __future__ import annotations

import argparse

import torch
from timing import device_and_model, interleaved_medians
from torch.utils.data import DataLoader

from lightning_pse.dissect import SyntheticConcepts, dissect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--layer", default="body.7")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device, model = device_and_model(args.model)
    probe = SyntheticConcepts(args.images)
    loader = DataLoader(probe, batch_size=args.batch)
    batches = [(b["image"].to(device), b["concepts"].to(device), b["annotated"].to(device)) for b in loader]
    names = dict(concept_names=probe.concept_names, concept_categories=probe.concept_categories)

    def floor():
        with torch.no_grad():
            for _ in range(2):
                for images, _, _ in batches:
                    model(images)

    cases = {
        "exact": lambda: dissect(model, args.layer, batches, **names),
        "sampled": lambda: dissect(model, args.layer, batches, quantile_method="sampled", **names),
        "loader": lambda: dissect(model, args.layer, loader),
        "floor": floor,
    }
    t = interleaved_medians(cases, device, args.repeats)
    result = dissect(model, args.layer, batches, **names)
    print(
        f"device={device.type} model={args.model} layer={args.layer} units={len(result.thresholds)} "
        f"concepts={len(probe.concept_names)} images={args.images} batch={args.batch} torch={torch.__version__}"
    )
    for case in ("exact", "sampled", "loader"):
        rate = args.images / t[case]
        print(f"{case}: {t[case]:.3f} s, {rate:.0f} probe images/s, {t[case] / t['floor']:.2f}x the floor")
    print(f"floor (2 forward passes of the probe set): {t['floor']:.3f} s")


if __name__ == "__main__":
    main()
