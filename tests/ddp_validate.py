"""Runs ``Trainer.validate`` with the analysis callbacks on 1 or 2 CPU processes (DDP, gloo) and
writes the logged metrics (rank 0) as JSON: the tests compare the two. Launched as a script,
since Lightning's DDP launcher re-runs the command for each extra rank.

    python tests/ddp_validate.py STATE_DICT OUT.json DEVICES PROBE_SAMPLES

PROBE_SAMPLES in batches of 4: 20 makes 5 batches, which two ranks share as 3 and 2; 4 makes one
batch, and the second rank has none to measure.
"""

import json
import sys

import pytorch_lightning as pl
import torch

from lightning_pse.attacks import CW, PGD
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.data import SyntheticDataModule
from lightning_pse.dissect import DissectionSettings
from lightning_pse.pse import PSESettings
from lightning_pse.training import ClassifierModule


def callbacks(probe_samples: int):
    probe = dict(num_samples=probe_samples, batch_size=4)
    return [
        PSECallback(
            attacks={
                "pgd": PGD(eps=16 / 255, steps=5, targeted=True, seed=0),
                "cw": CW(steps=20, binary_search_steps=2, seed=0),
            },
            **probe,
        ),
        RobustEvalCallback(attack=PGD(eps=8 / 255, steps=5, seed=0), **probe),
        CAMCallback(
            attacks={"pgd": PGD(eps=16 / 255, steps=5, targeted=True, seed=0)},
            pse=PSESettings(estimator="gradient"),
            **probe,
        ),
        DissectionCallback(
            layers=["body.4", "body.7"],
            attack=PGD(eps=8 / 255, steps=3, seed=0),
            dissection=DissectionSettings(num_concept_images=20),
            **probe,
        ),
    ]


def main(state_path: str, out_path: str, devices: int, probe_samples: int) -> None:
    # 201 validation images: an odd split, which a padding sampler would count one sample twice in.
    data = SyntheticDataModule(num_train=64, num_val=201, num_test=32, batch_size=32)
    module = ClassifierModule(model="small_cnn", num_classes=data.num_classes, mean=data.mean, std=data.std)
    module.load_state_dict(torch.load(state_path, weights_only=True))
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        logger=False,
        callbacks=callbacks(probe_samples),
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, datamodule=data)
    if trainer.is_global_zero:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        with open(out_path, "w") as f:
            json.dump({"metrics": metrics, "world_size": trainer.world_size}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
