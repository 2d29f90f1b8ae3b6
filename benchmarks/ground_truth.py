"""Where suppression and promotion sit on the synthetic benchmark's ground truth, for a standard
and adversarially trained models: concentrations and specificity ratios with intervals and verdicts.

    python benchmarks/ground_truth.py --ckpt runs/demo/checkpoints/last.ckpt [--num-samples 256]

Trains a standard small CNN (seed 0, ``--num-train`` images, 3 epochs; the ERM baseline) and adds
every ``--ckpt`` (adversarially trained models). For each model, the PSE section's ground truth on
the first ``--num-samples`` test images: targeted PGD ℓ∞ 16/255 toward the distractor's class
(``attacks.presets.ground_truth``), the exact (ablation) PSE estimator, the concentration of
suppression- and promotion-dominated pixels on the object and the distractor, and the two
specificity ratios with 95 % bootstrap intervals and verdicts (``docs/method.md`` §7).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytorch_lightning as pl
import torch

from lightning_pse.checkpoints import load_module, read_checkpoint
from lightning_pse.data import SyntheticDataModule
from lightning_pse.sections import AttackRuns, ProbeBatch, PSESection
from lightning_pse.sections.pse import ground_truth_specificity
from lightning_pse.training import ClassifierModule


def trained_small_cnn(num_train: int, module_class=ClassifierModule, **knobs) -> torch.nn.Module:
    """A small CNN trained on ``num_train`` synthetic images for 3 epochs (seed 0, SGD + OneCycle,
    lr 0.1) by ``module_class`` (``ClassifierModule``: standard training) with ``knobs``; eval mode."""
    data = SyntheticDataModule(num_train=num_train, num_val=256, num_test=256, batch_size=128)
    pl.seed_everything(0, verbose=False)
    module = module_class(model="small_cnn", num_classes=10, mean=data.mean, std=data.std, lr=0.1, **knobs)
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=data)
    return module.model.eval()


def test_batches(num_samples: int, batch_size: int = 64):
    """The first ``num_samples`` images of the synthetic test probe (seed 0) as ``(index [B], batch)``
    pairs, ``batch`` a dict of stacked tensors (image, label, masks, distractor label)."""
    data = SyntheticDataModule(num_train=16, num_val=16, num_test=max(num_samples, 16))
    data.setup("test")
    probe = data.probe_set(num_samples, "test", seed=0)
    for start in range(0, num_samples, batch_size):
        items = [probe[i] for i in range(start, min(start + batch_size, num_samples))]
        batch = {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in items[0]}
        yield torch.arange(start, start + len(items)), batch


def ground_truth(model: torch.nn.Module, num_samples: int, batch_size: int = 64) -> dict | None:
    section = PSESection(attacks={})
    section.reset(torch.device("cpu"))
    for index, batch in test_batches(num_samples, batch_size):
        extras = {k: v for k, v in batch.items() if k not in ("image", "label")}
        probe_batch = ProbeBatch.of(model, batch["image"], batch["label"], extras, index)
        section.update(model, probe_batch, AttackRuns(model, probe_batch))
    return section.compute()["pse"].get("ground_truth")  # None: no correctly classified image was fooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", nargs="*", default=[], type=Path, help="adversarially trained checkpoints")
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--num-train", type=int, default=4000, help="training images of the standard model")
    args = parser.parse_args()
    models = {"standard (ERM, seed 0)": trained_small_cnn(args.num_train)}
    for path in args.ckpt:
        module = load_module(read_checkpoint(path))
        models[f"{type(module).__name__} ({path})"] = module.model
    print(f"{args.num_samples} test images; concentration = share of the category's pixels in the region over the")
    print("region's area share (1 = chance); specificity = ratio of the two concentrations (1 = no preference)\n")
    print(
        "| model | fooled | supp. on object | supp. on distractor | prom. on distractor | prom. on object "
        "| supp. specificity [95 % CI] | verdict | prom. specificity [95 % CI] | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, model in models.items():
        truth = ground_truth(model.eval(), args.num_samples)
        if truth is None:
            print(f"| {name} | 0 | — | — | — | — | — | — | — | — |")
            continue
        found = ground_truth_specificity(truth)
        cells = []
        for key in ("suppression_object_over_distractor", "promotion_distractor_over_object"):
            spec = truth["specificity"][key]
            cells += [f"{spec['value']:.2f} [{spec['ci95'][0]:.2f}, {spec['ci95'][1]:.2f}]", found[key]["verdict"]]
        print(
            f"| {name} | {truth['num_images']} | {truth['suppression_on_object']:.2f} | "
            f"{truth['suppression_on_distractor']:.2f} | {truth['promotion_on_distractor']:.2f} | "
            f"{truth['promotion_on_object']:.2f} | {' | '.join(cells)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
