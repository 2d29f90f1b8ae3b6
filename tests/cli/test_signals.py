"""Stopping: SIGTERM ends a fit within a step at a clean point with ``last.ckpt`` written and one
line saying so (exit 143); Ctrl-C is one line at any moment, even during the imports (exit 130)."""

import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from lightning_pse.attacks import PGD
from lightning_pse.callbacks import RobustEvalCallback, StopCheckpoint

from helpers import REPO, clean_env, quiet_trainer, run_train, sigint_as_default

TERM_AT = 3  # of 10 steps per epoch, 2 epochs


def config(root: Path) -> Path:
    spec = {
        "trainer": {
            "max_epochs": 2,
            "default_root_dir": str(root),
            "enable_progress_bar": False,
            "logger": False,
            "callbacks": [
                {"class_path": "lightning_pse.callbacks.RobustEvalCallback", "init_args": {"num_samples": 16}},
                {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint", "init_args": {"filename": "last"}},
                {"class_path": "helpers.kill_at_step.TermAtStep", "init_args": {"step": TERM_AT}},
            ],
        },
        "model": {"class_path": "lightning_pse.training.ClassifierModule", "init_args": {"model": "small_cnn"}},
        "data": {
            "class_path": "lightning_pse.data.SyntheticDataModule",
            "init_args": {"num_train": 320, "num_val": 32, "num_test": 32, "batch_size": 32},
        },
    }
    path = root / "term.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow  # a training process of its own
def test_sigterm_ends_the_fit_after_the_step_in_progress_with_last_ckpt_written(tmp_path):
    result = run_train("fit", "--config", config(tmp_path), cwd=tmp_path, env_extra={"PYTHONPATH": str(REPO / "tests")})
    assert result.returncode == 128 + signal.SIGTERM, result.stderr[-3000:]
    last = tmp_path / "checkpoints" / "last.ckpt"
    lines = [line for line in result.stderr.splitlines() if line.startswith("stopped by SIGTERM")]
    assert lines == [f"stopped by SIGTERM after step {TERM_AT} (epoch 0): wrote {last}; resume with --ckpt_path {last}"]
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == TERM_AT, "the step in progress finished, and no further one began"
    assert "Traceback" not in result.stderr


def test_a_sigterm_during_a_measurement_stops_it_between_probe_batches(trained_module, synthetic_data, tmp_path):
    """The analysis callbacks look for a requested stop before each probe batch: a SIGTERM during
    validation ends the measurement at the next batch, and ``last.ckpt`` is written there."""
    runs = []
    attack = PGD(eps=8 / 255, steps=2, seed=0)
    real_run = attack.run
    attack.run = lambda *args, **kwargs: runs.append(1) or real_run(*args, **kwargs)

    class TermAtValidation(RobustEvalCallback):
        term = False

        def on_validation_epoch_end(self, trainer, pl_module):
            if self.term and not trainer.sanity_checking:
                trainer._signal_connector.received_sigterm = True  # what Lightning's SIGTERM handler sets
            super().on_validation_epoch_end(trainer, pl_module)

    def fit(term: bool) -> StopCheckpoint:
        stop, callback = StopCheckpoint(), TermAtValidation(attack, num_samples=32, batch_size=8)
        callback.term = term
        trainer = quiet_trainer(
            max_epochs=1,
            limit_train_batches=1,
            limit_val_batches=1,
            callbacks=[callback, stop],
            default_root_dir=tmp_path,
        )
        trainer.fit(copy.deepcopy(trained_module).train(), datamodule=synthetic_data)
        return stop

    assert fit(term=False).path is None and len(runs) == 4, "without a stop: four probe batches, no stop checkpoint"
    runs.clear()
    with pytest.raises(SystemExit):  # Lightning's SIGTERMException
        fit(term=True)
    assert runs == [], "no probe batch was attacked after the stop was requested"
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_ctrl_c_during_the_imports_is_one_line(tmp_path):
    """Ctrl-C at any moment of the imports (torch and Lightning take seconds): one ``interrupted``
    line and exit 130 every time. A ``KeyboardInterrupt`` unwinding through the imports failed about
    one time in five here: numpy left half-imported (exit 1 with its traceback), the interpreter
    killing itself by SIGINT after our line (exit -2), or a traceback from before the guard."""
    outcomes = []
    for delay in (0.05, 0.15, 0.3, 0.45, 0.6, 0.8):
        process = subprocess.Popen(
            [sys.executable, "-m", "lightning_pse", "fit", "--print_config"],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=sigint_as_default,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        outcomes.append((delay, process.returncode, err.splitlines()))
    assert all(code == 130 and lines == ["interrupted"] for _, code, lines in outcomes), outcomes


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["configs"]])
def test_a_closed_output_pipe_ends_quietly(tmp_path, args):
    """``lightning-pse ... | head -3``: the reader is gone before the help is written; no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lightning_pse", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # before the imports are done, so every write finds the pipe closed
    err = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 0 and err == "", err
