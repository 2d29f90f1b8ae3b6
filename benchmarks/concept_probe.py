"""Detectors on the synthetic concept probe against the data concept probe, with label stability.

    python benchmarks/concept_probe.py CKPT [CKPT ...] [--num-images 256] [--draws 20] [--threads 1]

For each checkpoint (a model trained on MNIST or Fashion-MNIST; its data module is read from the
checkpoint), the feature layer is dissected on the built-in synthetic concept set (grey, 28 px) and
on ``DataConcepts`` (objects from the validation images' foregrounds, grey textures), each with
``label_stability`` over ``--draws`` bootstrap and pixel-noise draws. Prints per probe: units,
detectors, stable detectors, the share of labels that hold, the largest best IoU, and the detectors'
concepts.
"""

from __future__ import annotations

import argparse
import time

import torch

from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.dissect import DataConcepts, concept_probe_set, label_stability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--num-images", type=int, default=256)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        "| checkpoint | probe | units | detectors | stable detectors | labels that hold | max best IoU "
        "| detectors' concepts | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.checkpoints:
        checkpoint = read_checkpoint(path)
        model = load_module(checkpoint).model.eval()
        data = load_datamodule(checkpoint)
        data.setup("fit")
        image = data.example_image()
        probes = {
            "synthetic": concept_probe_set(
                data, args.num_images, image_size=image.shape[-1], in_channels=image.shape[1]
            ),
            "data": DataConcepts.like(data, args.num_images),
        }
        for name, probe in probes.items():
            started = time.perf_counter()
            stability = label_stability(model, None, probe, draws=args.draws)
            result, summary = stability.result, stability.summary()
            concepts: dict[str, int] = {}
            for unit in result.detectors.nonzero().squeeze(1).tolist():
                concept = result.concept_names[int(result.best_concept[unit])]
                concepts[concept] = concepts.get(concept, 0) + 1
            listed = ", ".join(f"{c} {n}" for c, n in sorted(concepts.items())) or "—"
            print(
                f"| {path} | {name} | {summary['num_units']} | {summary['detectors']} | {summary['stable_detectors']} "
                f"| {summary['stable_unit_share']:.2f} | {float(result.best_iou.max()):.3f} | {listed} "
                f"| {time.perf_counter() - started:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
