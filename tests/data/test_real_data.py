"""Every level on real data: MNIST (IDX files the tests write) through ``train.py`` with the default
config and ``analyze.py``; the built-in concept probe at any size and channel count; callbacks that
refuse a misfit in ``setup``; PSE-AT on images of any size."""

import json

import pytest
import torch
import yaml
from torch import nn

from lightning_pse.data import MNISTDataModule, SyntheticDataModule
from lightning_pse.dissect import SyntheticConcepts, concept_probe_set, describe_concepts
from lightning_pse.models import registry
from lightning_pse.training import PSEATModule
from lightning_pse.training.cli import main as train_main

from helpers import FAST, REPO, TINY, quiet_trainer, run_analyze, run_train, write_mnist


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """``train.py fit --data MNISTDataModule --data.data_dir DIR`` with the default config (1 epoch,
    CSV metrics) on learnable IDX files, then ``analyze.py`` of every section on its checkpoint."""
    root = tmp_path_factory.mktemp("mnist")
    write_mnist(root / "data", "MNIST", 300, 60, learnable=True)
    fit = run_train(
        "fit",
        "--data",
        "lightning_pse.data.MNISTDataModule",
        "--data.data_dir",
        str(root / "data"),
        "--data.batch_size",
        "32",
        "--trainer.max_epochs",
        "1",
        "--trainer.default_root_dir",
        str(root / "run"),
        "--trainer.logger",
        "pytorch_lightning.loggers.CSVLogger",
        "--trainer.logger.save_dir",
        str(root / "run"),
        "--trainer.enable_progress_bar",
        "false",
        cwd=root,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    fast_robustness = FAST[FAST.index("--attacks") :]  # one 3-step PGD: the other sections keep their defaults
    analysis = run_analyze(
        "--ckpt",
        str(root / "run" / "checkpoints" / "last.ckpt"),
        "--num-samples",
        "16",
        *fast_robustness,
        "--out",
        str(root / "report"),
        cwd=root,
    )
    assert analysis.returncode == 0, analysis.stderr[-3000:]
    return root


def test_mnist_trains_with_the_default_config_and_dissects_each_epoch(mnist_run):
    metrics_file = next((mnist_run / "run").rglob("metrics.csv"))
    header = metrics_file.read_text().splitlines()[0].split(",")
    assert "val/robust_acc" in header and "pse/pgd/success_rate" in header
    assert "dissect/body.7/shape_detectors" in header and "dissect/body.7/texture_detectors" in header
    assert "dissect/body.7/color_detectors" not in header, "grey images cannot show colour concepts"
    checkpoint = torch.load(mnist_run / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["in_channels"] == 1


def test_analyze_writes_every_section_for_an_mnist_checkpoint(mnist_run):
    report = json.loads((mnist_run / "report" / "report.json").read_text())
    assert report["sections"] == ["robustness", "pse", "cam", "dissection", "masking"]
    assert report["figure_errors"] == []
    assert report["dissection"]["concept_probe"] == "synthetic concepts (shape, texture; 28 px, grey)"
    assert set(report["dissection"]["detectors_per_category"]) == {"shape", "texture"}
    assert report["clean"]["n"] == 16 and report["cam"]["method"] == "cam" and report["masking"]
    figures = {p.name for p in (mnist_run / "report" / "figures").iterdir()}
    assert {"psr_histogram.png", "sensitivity_vs_iou.png", "masking_curve.png"} <= figures


def test_grey_concept_probe_has_one_channel_and_no_colour_concepts():
    colour = SyntheticConcepts(20, image_size=28, seed=1)
    grey = SyntheticConcepts(20, image_size=28, seed=1, grey=True)
    item, grey_item = colour[10], grey[10]
    assert grey_item["image"].shape == (1, 28, 28) and item["image"].shape == (3, 28, 28)
    assert "color" not in grey.concept_categories and len(grey.concept_names) == len(colour.concept_names) - 9
    luminance = (torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1) * item["image"]).sum(0)
    assert torch.allclose(grey_item["image"][0], luminance, atol=1 / 255 + 1e-6)
    keep = [i for i, c in enumerate(colour.concept_categories) if c != "color"]
    assert torch.equal(grey_item["concepts"], item["concepts"][keep])
    assert torch.equal(grey_item["annotated"], item["annotated"][keep])


def test_concept_probe_follows_the_model_input_for_any_dataset(tmp_path):
    write_mnist(tmp_path, "MNIST", 20, 10)
    mnist = MNISTDataModule(data_dir=str(tmp_path))
    probe = concept_probe_set(mnist, 8, image_size=28, in_channels=1)
    assert probe[0]["image"].shape == (1, 28, 28) and describe_concepts(probe).endswith("28 px, grey)")
    synthetic = SyntheticDataModule(num_train=4, num_val=4, num_test=4, image_size=24, noise=0.05)
    like_data = concept_probe_set(synthetic, 8, image_size=24, in_channels=3)
    assert torch.equal(like_data[3]["image"], SyntheticConcepts.like(synthetic, 8, seed=3)[3]["image"])
    assert concept_probe_set(synthetic, 8, image_size=48, in_channels=3)[0]["image"].shape == (3, 48, 48)


def _config(path, callback: str, init_args: str):
    """The callback, and a checkpoint after every training step (so a step that ran leaves a file)."""
    path.write_text(
        f"trainer:\n  callbacks:\n    - class_path: lightning_pse.callbacks.{callback}\n"
        f"      init_args:\n{init_args}"
        "    - class_path: pytorch_lightning.callbacks.ModelCheckpoint\n"
        "      init_args:\n        every_n_train_steps: 1\n"
    )
    return path


@pytest.mark.parametrize(
    "callback, init_args, named",
    [
        ("DissectionCallback", "        layers: [body.99]\n", "body.99"),
        ("DissectionCallback", "        dissection:\n          broden_dir: /nonexistent/x\n", "/nonexistent/x"),
        ("CAMCallback", "        cam:\n          method: grad_cam\n          layer: head.0\n", "head.0"),
        ("PSECallback", "        pse:\n          group_size: 40\n", "group size 40"),
    ],
)
def test_misconfigured_callback_fails_in_setup_before_training(tmp_path, capsys, callback, init_args, named):
    config = _config(tmp_path / "callbacks.yaml", callback, init_args)
    with pytest.raises(SystemExit) as exit_:
        train_main(
            [
                "fit",
                "--config",
                str(config),
                *TINY,
                "--trainer.default_root_dir",
                str(tmp_path / "run"),
                "--trainer.logger",
                "false",
            ]
        )
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error:") and named in lines[-1], lines[-5:]
    assert not (tmp_path / "run" / "checkpoints").exists(), "no training step ran"


class _FixedSizeBody(nn.Module):
    """A body that takes only ``size``-px images (a flatten + linear layer, as in many MNIST nets)."""

    def __init__(self, in_channels: int, size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.fc = nn.Linear(4 * size * size, 16)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))[:, :, None, None]


@pytest.mark.slow
def test_pse_at_sizes_its_units_on_the_data_images(monkeypatch, tmp_path):
    def fixed_20px(c):
        body = _FixedSizeBody(c, 20)
        return body, body.fc, 16

    monkeypatch.setitem(registry._OWN_MODELS, "fixed_20px", fixed_20px)
    data = SyntheticDataModule(num_train=32, num_val=8, num_test=8, image_size=20, batch_size=16)
    module = PSEATModule(model="fixed_20px", num_classes=10, steps=1, probe_samples=16, probe_batch_size=16)
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=0)
    trainer.fit(module, datamodule=data)
    assert module.unit_mask.numel() == 16 and module.unit_mask.sum() == 1
    trainer.save_checkpoint(tmp_path / "pse_at.ckpt")
    restored = PSEATModule.load_from_checkpoint(tmp_path / "pse_at.ckpt", weights_only=True)
    assert torch.equal(restored.unit_mask, module.unit_mask)


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_config_resolves(capsys, config):
    with pytest.raises(SystemExit) as exit_:
        train_main(["fit", "--config", str(REPO / "configs" / config), "--print_config"])
    assert exit_.value.code in (0, None)
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["data"]["class_path"].startswith("lightning_pse.data.")
    callbacks = {entry["class_path"].rsplit(".", 1)[1] for entry in resolved["trainer"]["callbacks"]}
    assert {"RobustEvalCallback", "PSECallback", "CAMCallback", "DissectionCallback", "BestCheckpoint"} <= callbacks


@pytest.mark.slow
def test_mnist_pse_at_config_runs_on_idx_files(tmp_path):
    write_mnist(tmp_path / "data", "MNIST", 200, 40, learnable=True)
    train_main(
        [
            "fit",
            "--config",
            str(REPO / "configs" / "mnist_pse_at.yaml"),
            "--data.data_dir",
            str(tmp_path / "data"),
            "--data.val_size",
            "40",
            "--data.batch_size",
            "32",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.logger",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["eps"] == 0.3 and checkpoint["state_dict"]["unit_mask"].sum() == 7
