"""Helpers shared by the tests: the command-line tools in subprocesses, tiny models and data."""

import contextlib
import copy
import io
import os
import pickle
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from lightning_pse.data.readers import write_idx

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--data.num_train",
    "256",
    "--data.num_val",
    "128",
    "--data.num_test",
    "128",
    "--data.batch_size",
    "64",
    "--trainer.enable_progress_bar",
    "false",
]
# analyze.py in seconds: the robustness section with one 3-step PGD on 8 probe samples.
FAST = [
    "--sections",
    "robustness",
    "--num-samples",
    "8",
    "--attacks",
    '{"pgd3": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"steps": 3, "seed": 0}}}',
]


def clean_env(cwd, extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"WANDB_SILENT": "true", "HOME": str(cwd), **(extra or {})})
    return env


def sigint_as_default() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: SIGINT at its default action, whatever the
    test run inherited (``nohup make test &`` starts with SIGINT ignored, which the tools keep)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_train(*args, cwd=REPO, env_extra=None):
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=cwd,
        env=clean_env(cwd, env_extra),
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_analyze(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, str(REPO / "analyze.py"), *args],
        cwd=cwd,
        env=clean_env(cwd),
        capture_output=True,
        text=True,
        timeout=600,
    )


def error_lines(result) -> list[str]:
    """The ``error:`` lines of a finished command's stderr (``run_*`` or ``call_*``)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@dataclass
class Completed:
    """What ``call_train`` / ``call_analyze`` return: the fields of ``subprocess.CompletedProcess`` the tests read."""

    returncode: int
    stdout: str
    stderr: str


def call_cli(main, args, cwd, env_extra=None) -> Completed:
    """``main(args)`` of a command-line tool in this process, as ``run_train``/``run_analyze`` run it
    in a subprocess (the same working directory and environment, the exit code from ``SystemExit``,
    stdout and stderr captured). For tests of input the tools refuse before any work: it saves the
    interpreter and import start-up (~6 s) a subprocess costs. A crash is an exception, not code 1."""
    out, err = io.StringIO(), io.StringIO()
    if "wandb" in sys.modules:  # a fresh process has no W&B session yet: drop the one earlier tests left
        sys.modules["wandb"].teardown()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(clean_env(cwd, env_extra))
    os.chdir(cwd)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Completed(code, out.getvalue(), err.getvalue())


def call_train(*args, cwd=REPO, env_extra=None) -> Completed:
    from lightning_pse.training.cli import main

    return call_cli(main, args, cwd, env_extra)


def call_analyze(*args, cwd=REPO) -> Completed:
    from lightning_pse.analysis.cli import main

    return call_cli(main, args, cwd)


def write_cifar(root: Path, n_per_file: int, num_classes: int, cifar100: bool = False, labels=None, data=None):
    """CIFAR-10 (or -100) batches in the real pickle format under ``root``; returns name → (data, labels).
    ``data``: ``[n_per_file, 3072]`` uint8 rows (CIFAR's layout: the red plane, then green, then blue)
    written in every file; random rows when None."""
    folder = root / ("cifar-100-python" if cifar100 else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    files = ["train", "test"] if cifar100 else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = {}
    for i, name in enumerate(files):
        rng = np.random.default_rng(i)
        rows = data if data is not None else rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        lab = labels if labels is not None else rng.integers(0, num_classes, n_per_file).tolist()
        entry = {
            b"batch_label": name.encode(),
            b"data": rows,
            b"filenames": [f"{j}.png".encode() for j in range(n_per_file)],
        }
        if cifar100:
            entry[b"fine_labels"], entry[b"coarse_labels"] = lab, [x // 5 for x in lab]
        else:
            entry[b"labels"] = lab
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        written[name] = (rows, lab)
    return written


def write_mnist(root: Path, folder: str, n_train: int, n_test: int, compress: bool = False, learnable: bool = False):
    """MNIST-layout IDX files under ``root/folder/raw``; returns split → (images, labels). Random
    pixels and labels, or with ``learnable`` a bright bar whose row is the label, on noise, so a
    model learns it in one epoch."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        rng = np.random.default_rng(n)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        if learnable:
            images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
            for i, label in enumerate(labels):
                images[i, 3 + 2 * label : 5 + 2 * label, 4:24] = 230
        else:
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
        arrays[prefix] = (images, labels)
    return arrays


def quiet_trainer(**kwargs) -> pl.Trainer:
    """A CPU ``Trainer`` for tests: no logger, progress bar, model summary or checkpointing unless
    ``kwargs`` ask for them (a ``ModelCheckpoint`` among the callbacks asks for checkpointing; any
    Trainer argument passes through)."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    for name in ("logger", "enable_progress_bar", "enable_model_summary"):
        kwargs.setdefault(name, False)
    checkpoints = [c for c in kwargs.get("callbacks") or [] if isinstance(c, ModelCheckpoint)]
    kwargs.setdefault("enable_checkpointing", bool(checkpoints))
    kwargs.setdefault("accelerator", "cpu")
    return pl.Trainer(**kwargs)


def loss_and_reference(module, x, y):
    """``(loss, logits)`` of ``module.training_loss(x, y)`` and, from an untouched copy whose attack
    draws the same random start (seed 0), the logits ``f(x)`` and ``f(x')`` ``[B, K]`` in train mode:
    what a direct computation of the module's loss starts from."""
    twin = copy.deepcopy(module)
    torch.manual_seed(0)
    loss, logits = module.training_loss(x, y)
    torch.manual_seed(0)
    x_adv = twin.attack(twin.model, x, y)
    return loss, logits, twin(x), twin(x_adv)


class LinearLogits(nn.Module):
    """``Z = W·flatten(x) + b`` (``b`` zero): every input gradient of a linear objective is known by hand."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)  # [K, pixels]
        self.bias = nn.Parameter(torch.zeros(weight.shape[0]))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T + self.bias


class TinyNet(nn.Module):
    """Pixels ``[B, 3, 16, 16]`` → 10 logits; ``dropout`` > 0 keeps dropout on at inference (MC dropout)."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)
        self.dropout = dropout

    def forward(self, x):
        h = F.relu(self.conv(x)).mean(dim=(2, 3))
        return self.fc(F.dropout(h, self.dropout, training=True) if self.dropout else h)


def data(n=8):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 16, 16, generator=generator)
    model = TinyNet()
    with torch.no_grad():
        y = model(x).argmax(1)  # labels the deterministic net gets right: every sample is attacked
    return x, y
