"""Fault tolerance: a PSE-AT run killed with SIGKILL mid-epoch and resumed from its last checkpoint
ends where an uninterrupted run with the same seed ends (epoch count, weights, optimizer and
scheduler state, PSE-AT margin weights and sensitive-unit ranking, metrics), because the data
order (``StatefulDataLoader``) and the random-generator states are checkpointed with the model."""

import csv
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from lightning_pse.training.rng import gather_rng_states, restore_rank_rng_states

from helpers import REPO, run_train

pytestmark = pytest.mark.slow  # trains models of its own (make test-fast leaves it out)

STEPS_PER_EPOCH = 10  # 320 training images in batches of 32
KILL_AT = 15  # the middle of the second epoch


def config(root: Path, version: str, kill_at: int | None = None) -> Path:
    callbacks = [
        {"class_path": "lightning_pse.callbacks.RobustEvalCallback", "init_args": {"num_samples": 32}},
        {
            "class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
            "init_args": {"filename": "last", "enable_version_counter": False, "every_n_train_steps": 1},
        },
    ]
    if kill_at is not None:
        callbacks.append({"class_path": "helpers.kill_at_step.KillAtStep", "init_args": {"step": kill_at}})
    spec = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": 3,
            "inference_mode": False,
            "default_root_dir": str(root),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": str(root), "name": "logs", "version": version},
            },
            "callbacks": callbacks,
        },
        "model": {
            "class_path": "lightning_pse.training.PSEATModule",
            "init_args": {"steps": 2, "step_size": 0.02, "probe_samples": 32, "probe_batch_size": 32},
        },
        "data": {
            "class_path": "lightning_pse.data.SyntheticDataModule",
            "init_args": {"num_train": 320, "num_val": 64, "num_test": 32, "batch_size": 32},
        },
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


def kill_then_resume(root: Path, kill_at: int) -> tuple[dict, dict]:
    """A run in ``root`` killed with SIGKILL after step ``kill_at``, then resumed from its
    ``last.ckpt``: ``(the checkpoint it was killed with, the final checkpoint)``."""
    killed = train(config(root, "killed", kill_at), root)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    last = root / "checkpoints" / "last.ckpt"
    interrupted = torch.load(last, weights_only=True)
    resumed = train(config(root, "resumed"), root, "--ckpt_path", str(last))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return interrupted, torch.load(last, weights_only=True)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    for root in (straight, broken):
        root.mkdir()
    result = train(config(straight, "straight"), straight)
    assert result.returncode == 0, result.stderr[-3000:]

    interrupted, actual = kill_then_resume(broken, KILL_AT)
    assert interrupted["global_step"] == KILL_AT - 1 and interrupted["epoch"] == 1, "a mid-epoch checkpoint"
    assert "rng_states" in interrupted and interrupted["loops"]["fit_loop"]["state_dict"]["combined_loader"]

    expected = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["epoch"] == expected["epoch"] == 2
    assert actual["global_step"] == expected["global_step"] == 3 * STEPS_PER_EPOCH
    for key, value in expected["state_dict"].items():  # includes margin_weights and unit_mask
        torch.testing.assert_close(
            actual["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=lambda m, key=key: f"{key}: {m}"
        )
    assert torch.equal(actual["state_dict"]["unit_mask"], expected["state_dict"]["unit_mask"])
    assert actual["lr_schedulers"] == expected["lr_schedulers"]
    for (_, a), (_, b) in zip(
        sorted(actual["optimizer_states"][0]["state"].items()), sorted(expected["optimizer_states"][0]["state"].items())
    ):
        torch.testing.assert_close(a["momentum_buffer"], b["momentum_buffer"], rtol=1e-5, atol=1e-6)
    metrics, reference = final_metrics(broken, "resumed"), final_metrics(straight, "straight")
    assert set(metrics) >= {"val/acc", "val/robust_acc", "val/loss"}
    for key, value in reference.items():
        assert abs(metrics[key] - value) <= 1e-4, (key, metrics[key], value)


def test_a_checkpoint_on_the_last_batch_of_an_epoch_resumes_into_a_full_next_epoch(tmp_path):
    """Killed right after the checkpoint of an epoch's last training batch: the restored loader has
    finished that epoch, and the resumed run still trains every batch of the epochs left."""
    interrupted, final = kill_then_resume(tmp_path, STEPS_PER_EPOCH + 1)
    assert interrupted["global_step"] == STEPS_PER_EPOCH and interrupted["epoch"] == 0
    assert (final["epoch"], final["global_step"]) == (2, 3 * STEPS_PER_EPOCH)


def _draws() -> torch.Tensor:
    return torch.cat([torch.rand(3), torch.from_numpy(np.random.rand(2)).float(), torch.tensor([random.random()])])


def _save_and_restore_on_rank(rank: int, world_size: int, root: str) -> None:
    """One DDP process (gloo): advance the generators differently per rank, gather the states as a
    checkpoint does, write them (rank 0), scramble, restore this rank's entry from the file."""
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=world_size)
    try:
        pl.seed_everything(0, verbose=False)
        torch.rand(10 + rank), np.random.rand(1 + 2 * rank), [random.random() for _ in range(rank)]
        saved = gather_rng_states()
        expected = _draws()
        if rank == 0:
            torch.save({"rng_states": saved}, f"{root}/states.ckpt")
        dist.barrier()
        loaded = torch.load(f"{root}/states.ckpt", weights_only=True)["rng_states"]
        pl.seed_everything(123, verbose=False)
        restore_rank_rng_states(loaded, rank)
        torch.save({"expected": expected, "restored": _draws(), "entries": len(loaded)}, f"{root}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_each_ddp_rank_restores_its_own_generator_states(tmp_path):
    mp.spawn(_save_and_restore_on_rank, args=(2, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for rank in ranks:
        assert rank["entries"] == 2
        assert torch.equal(rank["restored"], rank["expected"])
    assert not torch.equal(ranks[0]["expected"], ranks[1]["expected"]), "the ranks' sequences differ"


def test_extra_ranks_get_rank_zero_states():
    pl.seed_everything(0, verbose=False)
    saved = gather_rng_states()  # no process group: this process only
    expected = _draws()
    for states, rank in ((saved, 3), (saved, 0)):
        pl.seed_everything(1, verbose=False)
        restore_rank_rng_states(states, rank)
        assert torch.equal(_draws(), expected)


def test_ddp_checkpoints_hold_every_rank_and_resume(tmp_path):
    """Two CPU processes: Lightning builds the checkpoint on every rank (the gather is a collective),
    the file holds one entry per rank, and the run resumes from it on two processes (an epoch-free
    schedule, so the run can be extended)."""
    ddp = [
        "--config",
        str(config(tmp_path, "ddp")),
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--model.init_args.scheduler",
        "none",
    ]
    first = run_train("fit", *ddp, "--trainer.max_epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert len(torch.load(last, weights_only=True)["rng_states"]) == 2
    resumed = run_train("fit", *ddp, "--trainer.max_epochs", "2", "--ckpt_path", str(last), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(last, weights_only=True)["global_step"] == 2 * STEPS_PER_EPOCH // 2
