"""The careless inputs a first hour brings (issue "The first hour"): each is one clear line before
any work, or a one-line note where the tool goes on."""

import json
import os

import pytest
import torch

from lightning_pse.analysis import evaluate
from lightning_pse.errors import UserInputError

from helpers import FAST, TinyNet, call_analyze, error_lines


def checkpoint(fitted_run):
    root, _ = fitted_run
    return str(root / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--eps", "300"], "ε = 300 (linf) constrains nothing: between two images of shape (3, 32, 32) in [0, 1]"),
        (["--eps", "1"], "ε = 1 (linf) constrains nothing"),
        (["--norm", "l2", "--eps", "56"], "the l2 distance is at most 55.4256"),
        (["--devices", "99"], "--devices 99 asks for 99 processes on the CPU but this machine has"),
    ],
)
def test_a_radius_or_a_process_count_the_machine_cannot_mean_is_one_line(fitted_run, tmp_path, args, message):
    result = call_analyze("--ckpt", checkpoint(fitted_run), *FAST, *args, "--out", tmp_path / "r", cwd=tmp_path)
    assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr[-2000:]
    assert message in error_lines(result)[0]
    assert "analysing" not in result.stderr and not (tmp_path / "r").exists(), "refused before any work"


def test_the_cores_named_are_the_machines(fitted_run, tmp_path):
    cores = len(os.sched_getaffinity(0))
    result = call_analyze("--ckpt", checkpoint(fitted_run), *FAST, "--devices", cores + 1, cwd=tmp_path)
    assert f"this machine has {cores} core(s): use at most {cores}" in error_lines(result)[0]


def test_more_samples_than_the_split_holds_are_said_in_one_line(fitted_run, tmp_path):
    out = tmp_path / "r"
    result = call_analyze(
        "--ckpt", checkpoint(fitted_run), *FAST, "--num_samples", "10000000", "--out", out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: --num_samples 10000000 is more than the test split holds: analysing all 128 of its images"]
    assert json.loads((out / "report.json").read_text())["num_samples"] == 128


def test_sections_may_be_separated_by_spaces(fitted_run, tmp_path):
    out = tmp_path / "r"
    args = ["--num_samples", "8", "--sections", "robustness", "masking", "--out", out]
    result = call_analyze("--ckpt", checkpoint(fitted_run), *args, "--attacks", FAST[-1], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["sections"] == ["robustness", "masking"]


@pytest.mark.parametrize(
    "images, message",
    [
        (
            torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8),
            "images are torch.uint8 (0–255 pixels?): pass float pixels in [0, 1], e.g. images.float() / 255",
        ),
        (torch.rand(4, 3, 16, 16) * 255, "(0–255 pixels? divide by 255)"),
    ],
)
def test_evaluate_suggests_dividing_0_255_pixels_by_255(images, message):
    with pytest.raises(UserInputError) as error:
        evaluate(TinyNet(), (images, torch.zeros(4, dtype=torch.long)), ["robustness"])
    assert message in str(error.value)
