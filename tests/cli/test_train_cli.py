"""``train.py`` end to end, in subprocesses as a user runs it."""

import pytest
import torch
import yaml

from lightning_pse.checkpoints import load_module, read_checkpoint
from lightning_pse.training import PGDATModule
from lightning_pse.training.cli import main as train_main

from helpers import REPO, TINY, call_train, error_lines, run_train


def test_fit_writes_checkpoints_config_and_offline_wandb_run(fitted_run):
    root, result = fitted_run
    last = root / "checkpoints" / "last.ckpt"
    assert last.exists() and list((root / "checkpoints").glob("best-*.ckpt"))
    assert f"last checkpoint: {last}" in result.stdout
    assert result.stdout.count("best checkpoint") == 1  # the every-epoch files are one line of their own
    assert f"every epoch's checkpoint: {root / 'checkpoints'}/" in result.stdout
    offline_runs = list((root / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and "offline" in result.stdout
    config = yaml.safe_load((root / "config.yaml").read_text())
    assert config["trainer"]["inference_mode"] is False
    assert config["model"]["init_args"]["model"] == "small_cnn"
    assert config["data"]["class_path"].endswith("SyntheticDataModule")


def test_checkpoint_loads_with_weights_only(fitted_run):
    root, _ = fitted_run
    checkpoint = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["global_step"] == 2 * 4
    assert checkpoint["hyper_parameters"]["model"] == "small_cnn"
    assert checkpoint["hyper_parameters"]["num_classes"] == 10, "class count linked from the data module"
    assert checkpoint["datamodule_hyper_parameters"]["num_train"] == 256
    module = PGDATModule.load_from_checkpoint(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert module.model.num_classes == 10
    rebuilt = load_module(read_checkpoint(root / "checkpoints" / "last.ckpt"))
    assert type(rebuilt) is PGDATModule and rebuilt.hparams.eps == module.hparams.eps


@pytest.mark.slow
def test_resume_continues_the_epoch_count(tmp_path):
    # An epoch-based schedule can be extended on resume (OneCycle/cosine are fixed by max_epochs).
    args = [*TINY, "--model.scheduler", "multistep", "--model.milestones", "[1]"]
    first = run_train(
        "fit", *args, "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path / "a"), cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    result = run_train(
        "fit",
        *args,
        "--trainer.max_epochs",
        "3",
        "--trainer.default_root_dir",
        str(tmp_path / "b"),
        "--ckpt_path",
        str(tmp_path / "a" / "checkpoints" / "last.ckpt"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == 2 and resumed["global_step"] == 3 * 4
    assert resumed["lr_schedulers"][0]["last_epoch"] == 3, "scheduler state carried over"
    assert resumed["optimizer_states"][0]["state"], "optimizer momentum carried over"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "test"])
def test_validate_and_test_a_checkpoint(fitted_run, tmp_path, command):
    root, _ = fitted_run
    result = run_train(
        command,
        *TINY,
        "--trainer.default_root_dir",
        str(tmp_path),
        "--ckpt_path",
        str(root / "checkpoints" / "last.ckpt"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stage = "val" if command == "validate" else "test"
    assert f"{stage}/acc" in result.stdout
    if command == "validate":  # the analysis callbacks re-measure any checkpoint in the validate loop
        assert "val/robust_acc" in result.stdout and "pse/pgd/success_rate" in result.stdout


def test_unknown_model_is_one_line_and_exit_2(tmp_path):
    result = call_train(
        "fit", *TINY, "--model.model", "resnet_19", "--trainer.default_root_dir", str(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 2
    errors = error_lines(result)
    assert len(errors) == 1 and "resnet_19" in errors[0] and "small_cnn" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("data", ["CIFAR10DataModule", "FashionMNISTDataModule"])
def test_missing_dataset_is_one_line_before_the_logger_starts_and_leaves_nothing(tmp_path, data):
    """The data is checked before the Trainer starts its (W&B) logger: no run folder, no W&B lines."""
    run = tmp_path / "run"
    result = call_train(
        "fit",
        "--data",
        f"lightning_pse.data.{data}",
        "--data.data_dir",
        str(tmp_path / "absent"),
        "--trainer.default_root_dir",
        str(run),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    errors = error_lines(result)
    assert len(errors) == 1 and " not found: " in errors[0] and "download=true" in errors[0]
    assert "Traceback" not in result.stderr and "wandb" not in result.stderr.lower()
    assert not run.exists() and sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []


def test_yaml_typo_is_refused(tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text("model:\n  init_args:\n    lrr: 0.1\n")
    result = call_train("fit", "--config", str(config), "--trainer.default_root_dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode != 0 and "lrr" in result.stderr


@pytest.mark.slow
def test_fit_without_arguments_uses_the_default_config(tmp_path):
    result = call_train("fit", "--print_config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    config = yaml.safe_load(result.stdout)
    assert config["data"]["class_path"] == "lightning_pse.data.SyntheticDataModule"
    assert config["model"]["init_args"]["model"] == "small_cnn"
    default = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert config["trainer"]["max_epochs"] == default["trainer"]["max_epochs"]
    assert config["model"]["class_path"] == "lightning_pse.training.PGDATModule"
    callbacks = [c["class_path"].rsplit(".", 1)[1] for c in config["trainer"]["callbacks"]]
    assert {"RobustEvalCallback", "PSECallback"} <= set(callbacks)


@pytest.mark.slow
def test_a_composed_config_states_only_what_differs(tmp_path, monkeypatch):
    """A config naming a callbacks block file (relative to it) and a standard module, on top of
    configs/default.yaml: the run folder is runs/<config name>, and BestCheckpoint keeps the best
    epoch by the module's own selection metric (val/acc for standard training)."""
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "checkpoints.yaml").write_text(
        yaml.safe_dump(
            [
                {"class_path": "lightning_pse.callbacks.BestCheckpoint"},
                {
                    "class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                    "init_args": {"filename": "last", "enable_version_counter": False},
                },
            ]
        )
    )
    (tmp_path / "my_run.yaml").write_text(
        yaml.safe_dump(
            {
                "trainer": {
                    "callbacks": "blocks/checkpoints.yaml",
                    "max_epochs": 1,
                    "limit_train_batches": 2,
                    "logger": False,
                },
                "model": {"class_path": "lightning_pse.training.ClassifierModule"},
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    train_main(["fit", "--config", str(tmp_path / "my_run.yaml"), *TINY])
    folder = tmp_path / "runs" / "my_run" / "checkpoints"
    best = list(folder.glob("best-*.ckpt"))
    assert (folder / "last.ckpt").exists() and len(best) == 1
    states = torch.load(best[0], weights_only=True)["callbacks"]
    assert any("BestCheckpoint" in key and "'monitor': 'val/acc'" in key for key in states), list(states)
