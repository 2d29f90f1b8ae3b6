"""Lightning's overhead on one PGD-AT epoch, against a plain PyTorch loop doing the same work.

    python benchmarks/train_overhead.py [--num-train 4096] [--steps 10] [--repeats 3]

Both sides train ``small_cnn`` from the same initial weights on the same synthetic training
batches (same order, no shuffling): for each batch, our ``PGD`` (ℓ∞ 8/255, ``--steps`` steps of
2.5ε/steps, random start) in eval mode, then cross-entropy on the adversarial batch in train mode,
SGD step. The Lightning side is ``PGDATModule`` under ``Trainer.fit`` (metrics and logging on, no
validation, checkpointing or progress bar); the plain side is a ``for`` loop. Runs are
interleaved; prints the median seconds and the ratio Lightning / plain (target ≤ 1.05).
"""

from __future__ import annotations

import argparse
import os

import pytorch_lightning as pl
import torch
from timing import interleaved_medians
from torch.utils.data import DataLoader

from lightning_pse.attacks import PGD
from lightning_pse.data import SyntheticDataModule, unpack_batch
from lightning_pse.training import PGDATModule


class OrderedData(SyntheticDataModule):
    """The synthetic training split without shuffling, so both sides see the same batches."""

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split("train"), False, self.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    data = OrderedData(num_train=args.num_train, num_val=128, num_test=128, batch_size=128)
    data.setup()
    hparams = dict(
        model="small_cnn",
        num_classes=data.num_classes,
        mean=data.mean,
        std=data.std,
        lr=0.05,
        scheduler="none",
        eps=8 / 255,
        steps=args.steps,
        step_size=2.5 * 8 / 255 / args.steps,
    )
    torch.manual_seed(0)
    initial = PGDATModule(**hparams).state_dict()

    def fresh() -> PGDATModule:
        module = PGDATModule(**hparams)
        module.load_state_dict(initial)
        return module

    def lightning_epoch() -> None:
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        trainer.fit(fresh(), datamodule=data)

    def plain_epoch() -> None:
        module = fresh()
        model = module.model.train()
        attack = PGD(eps=8 / 255, steps=args.steps, step_size=2.5 * 8 / 255 / args.steps)
        optimizer = module.configure_optimizers()
        for batch in data.train_dataloader():
            x, y = unpack_batch(batch)
            loss = torch.nn.functional.cross_entropy(model(attack(model, x, y)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    seconds = interleaved_medians(
        {"lightning": lightning_epoch, "plain": plain_epoch}, torch.device("cpu"), args.repeats
    )
    print(f"PGD-AT epoch, {args.num_train} images, PGD-{args.steps}, median of {args.repeats}:")
    print(f"  Lightning (PGDATModule + Trainer): {seconds['lightning']:.2f} s")
    print(f"  plain PyTorch loop:                {seconds['plain']:.2f} s")
    print(f"  ratio Lightning / plain:           {seconds['lightning'] / seconds['plain']:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
