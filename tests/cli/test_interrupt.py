"""Ctrl-C ends either tool with one line and exit 130, leaving nothing half-written."""

import signal
import subprocess
import sys
import time

import pytest

from helpers import REPO, TINY, clean_env, sigint_as_default

pytestmark = pytest.mark.slow  # trains models of its own (make test-fast leaves it out)


def start(script: str, args: list[str], cwd, log):
    return subprocess.Popen(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=clean_env(cwd),
        stdout=log,
        stderr=log,
        preexec_fn=sigint_as_default,
    )


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the tool never reached the point to interrupt"
        time.sleep(0.2)


def interrupt(process, log_path) -> tuple[int, list[str]]:
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=120)
    return code, [line for line in log_path.read_text().splitlines() if line.strip()]


def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path):
    log_path = tmp_path / "log.txt"
    with log_path.open("w") as log:
        args = ["fit", *TINY, "--trainer.max_epochs", "50", "--trainer.default_root_dir", str(tmp_path / "run")]
        process = start("train.py", args, tmp_path, log)
        wait_for(lambda: (tmp_path / "run" / "config.yaml").exists())
        time.sleep(2)  # inside the training loop
        code, lines = interrupt(process, log_path)
    assert code == 130, lines[-5:]
    assert lines[-1].startswith("interrupted: ") and "--ckpt_path" in lines[-1]
    assert not any(line.startswith("Traceback") for line in lines), lines


def test_ctrl_c_during_an_analysis_writes_no_report(fitted_run, tmp_path):
    root, _ = fitted_run
    out = tmp_path / "report"
    log_path = tmp_path / "log.txt"
    with log_path.open("w") as log:
        args = ["--ckpt", str(root / "checkpoints" / "last.ckpt"), "--num-samples", "64", "--out", str(out)]
        process = start("analyze.py", args, tmp_path, log)
        wait_for(lambda: "analysing" in log_path.read_text())
        code, lines = interrupt(process, log_path)
    assert code == 130, lines[-5:]
    assert lines[-1].startswith("interrupted: the report in progress was not written")
    assert not any(line.startswith("Traceback") for line in lines), lines
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".report-")]
