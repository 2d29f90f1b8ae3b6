"""Fault tolerance: a PSE-AT run killed with SIGKILL mid-epoch and resumed from its last checkpoint
ends where an uninterrupted run with the same seed ends (epoch count, weights, optimizer and
scheduler state, PSE-AT margin weights and sensitive-unit ranking, metrics), because the data
order (``StatefulDataLoader``) and the random-generator states are checkpointed with the model."""

import csv
import signal
from pathlib import Path

import torch
import yaml

from helpers import REPO, run_train

STEPS_PER_EPOCH = 10  # 320 training images in batches of 32
KILL_AT = 15  # the middle of the second epoch


def config(root: Path, version: str, kill: bool) -> Path:
    callbacks = [
        {"class_path": "lightning_pse.callbacks.RobustEvalCallback", "init_args": {"num_samples": 32}},
        {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
         "init_args": {"filename": "last", "enable_version_counter": False, "every_n_train_steps": 1}},
    ]
    if kill:
        callbacks.append({"class_path": "kill_at_step.KillAtStep", "init_args": {"step": KILL_AT}})
    spec = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 3, "inference_mode": False,
                    "default_root_dir": str(root), "enable_progress_bar": False, "enable_model_summary": False,
                    "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger",
                               "init_args": {"save_dir": str(root), "name": "logs", "version": version}},
                    "callbacks": callbacks},
        "model": {"class_path": "lightning_pse.training.PSEATModule",
                  "init_args": {"steps": 2, "step_size": 0.02, "probe_samples": 32, "probe_batch_size": 32}},
        "data": {"class_path": "lightning_pse.data.SyntheticDataModule",
                 "init_args": {"num_train": 320, "num_val": 64, "num_test": 32, "batch_size": 32}},
    }
    path = root / f"{version}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def final_metrics(root: Path, version: str) -> dict:
    with open(root / "logs" / version / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/robust_acc")]
    return {k: float(v) for k, v in rows[-1].items() if k.startswith("val/") and v}


def train(cfg: Path, cwd: Path, *args):
    return run_train("fit", "--config", str(cfg), *args, cwd=cwd, env_extra={"PYTHONPATH": str(REPO / "tests")})


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    for root in (straight, broken):
        root.mkdir()
    result = train(config(straight, "straight", kill=False), straight)
    assert result.returncode == 0, result.stderr[-3000:]

    killed = train(config(broken, "killed", kill=True), broken)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    last = broken / "checkpoints" / "last.ckpt"
    interrupted = torch.load(last, weights_only=True)
    assert interrupted["global_step"] == KILL_AT - 1 and interrupted["epoch"] == 1, "a mid-epoch checkpoint"
    assert "rng_states" in interrupted and interrupted["loops"]["fit_loop"]["state_dict"]["combined_loader"]

    resumed = train(config(broken, "resumed", kill=False), broken, "--ckpt_path", str(last))
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(last, weights_only=True)
    assert actual["epoch"] == expected["epoch"] == 2
    assert actual["global_step"] == expected["global_step"] == 3 * STEPS_PER_EPOCH
    for key, value in expected["state_dict"].items():  # includes margin_weights and unit_mask
        torch.testing.assert_close(actual["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=lambda m: f"{key}: {m}")
    assert torch.equal(actual["state_dict"]["unit_mask"], expected["state_dict"]["unit_mask"])
    assert actual["lr_schedulers"] == expected["lr_schedulers"]
    for (_, a), (_, b) in zip(sorted(actual["optimizer_states"][0]["state"].items()),
                              sorted(expected["optimizer_states"][0]["state"].items())):
        torch.testing.assert_close(a["momentum_buffer"], b["momentum_buffer"], rtol=1e-5, atol=1e-6)
    metrics, reference = final_metrics(broken, "resumed"), final_metrics(straight, "straight")
    assert set(metrics) >= {"val/acc", "val/robust_acc", "val/loss"}
    for key, value in reference.items():
        assert abs(metrics[key] - value) <= 1e-4, (key, metrics[key], value)
