"""Helpers shared by the tests that run the command-line tools in subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = ["--data.num_train", "256", "--data.num_val", "128", "--data.num_test", "128",
        "--data.batch_size", "64", "--trainer.enable_progress_bar", "false"]


def clean_env(cwd, extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"WANDB_SILENT": "true", "HOME": str(cwd), **(extra or {})})
    return env


def run_train(*args, cwd=REPO, env_extra=None):
    return subprocess.run([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, env=clean_env(cwd, env_extra),
                          capture_output=True, text=True, timeout=600)


def run_analyze(*args, cwd=REPO):
    return subprocess.run([sys.executable, str(REPO / "analyze.py"), *args], cwd=cwd, env=clean_env(cwd),
                          capture_output=True, text=True, timeout=600)
