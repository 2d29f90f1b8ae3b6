"""``analyze.py`` speaks ``train.py``'s dialect (jsonargparse), checks every prerequisite before the
first attack, and turns careless input into one ``error:`` line with exit 2 (``train.py`` too)."""

import json
import time
from argparse import ArgumentTypeError

import pytest
import torch
import yaml

from lightning_pse.analysis.cli import settled
from lightning_pse.analysis.options import parse, parse_eps
from lightning_pse.errors import UserInputError

from helpers import FAST, REPO, TINY, call_analyze, call_train, error_lines, run_analyze, run_train

FAST_ATTACK = "{pgd: {class_path: lightning_pse.attacks.PGD, init_args: {eps: 0.03, steps: 2, seed: 0}}}"


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = error_lines(result)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stderr.rstrip().splitlines()[-1].startswith("error:"), "nothing prints after the error line"


def test_eps_takes_fractions_and_zero_is_a_value():
    assert parse_eps("8/255") == pytest.approx(8 / 255) and parse_eps("0") == 0.0 and parse_eps("0.5") == 0.5
    with pytest.raises(ArgumentTypeError, match="ε must be ≥ 0"):
        parse_eps("-1/255")


def test_options_nest_and_merge_like_train_py(fitted_run, tmp_path):
    root, _ = fitted_run
    ckpt = str(root / "checkpoints" / "last.ckpt")
    config = tmp_path / "analysis.yaml"
    config.write_text(
        yaml.safe_dump({"batch_size": 7, "eps": "4/255", "dissection": {"layer": "body.5"}, "num_samples": 9})
    )
    options, checkpoint = settled(
        parse(
            [
                "--ckpt",
                ckpt,
                "--config",
                str(config),
                "--data.num_test=50",
                "--num-samples",
                "11",
                "--cam.threshold",
                "0.3",
            ]
        )
    )
    assert options.batch_size == 7, "config keys are the options"
    assert options.eps == pytest.approx(4 / 255) and options.num_samples == 11, "the command line wins"
    assert options.dissection.layer == "body.5" and options.cam.threshold == 0.3
    assert options.data.init_args.num_test == 50, "--data.KEY=VALUE overrides the checkpoint's data"
    assert options.data.init_args.num_train == 256, "the rest is the checkpoint's (TINY)"
    assert checkpoint["datamodule_hyper_parameters"]["num_train"] == 256, "the checkpoint, read once, comes along"
    assert parse(["--ckpt", ckpt, "--eps", "0"]).options.eps == 0.0
    with pytest.raises(UserInputError, match="unknown option --data.num_vall; did you mean --data.num_val"):
        settled(parse(["--ckpt", ckpt, "--data.num_vall", "3"]))
    with pytest.raises(UserInputError, match="unknown option --num_sample; did you mean --num_samples"):
        parse(["--ckpt", ckpt, "--num_sample", "3"])  # no abbreviations


def test_print_config_prints_the_options(fitted_run, tmp_path):
    root, _ = fitted_run
    result = call_analyze("--ckpt", str(root / "checkpoints" / "last.ckpt"), "--print_config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = yaml.safe_load(result.stdout)
    assert printed["num_samples"] == 64 and printed["data"]["class_path"].endswith("SyntheticDataModule")
    result = call_analyze("--help", cwd=tmp_path)
    assert result.returncode == 0 and "--data.help" in result.stdout, "the full parser's help, data classes included"


def test_eps_zero_gives_clean_accuracy_and_eps_comes_from_training(fitted_run, tmp_path):
    root, _ = fitted_run
    ckpt = str(root / "checkpoints" / "last.ckpt")
    result = run_analyze("--ckpt", ckpt, *FAST, "--eps", "0", "--out", str(tmp_path / "zero"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "zero" / "report.json").read_text())
    assert report["eps"] == 0 and report["worst_case_robust_accuracy"] == report["clean_accuracy"]
    result = run_analyze(
        "--ckpt",
        ckpt,
        "--sections",
        "robustness",
        "--num-samples",
        "4",
        "--norm",
        "l2",
        "--attacks",
        FAST[-1],
        "--out",
        str(tmp_path / "l2"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "l2" / "report.json").read_text())
    assert report["norm"] == "l2" and report["eps"] == 0.5, "the linf training ε is not reused for l2"


def test_missing_dissection_prerequisites_fail_in_seconds_before_any_attack(fitted_run, tmp_path):
    root, _ = fitted_run
    started = time.perf_counter()
    result = call_analyze(
        "--ckpt",
        str(root / "checkpoints" / "last.ckpt"),
        "--dissection.broden_dir",
        str(tmp_path / "no-broden"),
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert time.perf_counter() - started < 10
    assert_one_line_error(result, "no-broden")
    assert "robustness:" not in result.stderr and not (tmp_path / "r").exists()
    result = call_analyze(
        "--ckpt",
        str(root / "checkpoints" / "last.ckpt"),
        "--dissection.layer",
        "body.99",
        "--sections",
        "dissection",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "body.99")


@pytest.mark.parametrize("case", ["cuda", "negative_samples", "text_ckpt", "yaml_ckpt", "broken_config"])
def test_careless_analyze_input_is_one_line(fitted_run, tmp_path, case):
    root, _ = fitted_run
    ckpt = str(root / "checkpoints" / "last.ckpt")
    (tmp_path / "notes.ckpt").write_text("some notes\nabout the run\n")
    (tmp_path / "config.ckpt").write_text(yaml.safe_dump({"trainer": {"max_epochs": 3}}))
    (tmp_path / "broken.yaml").write_text("num_samples: [3\n")
    args, words = {
        "cuda": (["--ckpt", ckpt, "--device", "cuda"], ["no CUDA GPU", "--device cpu"]),
        "negative_samples": (["--ckpt", ckpt, "--num-samples", "-5"], ["num_samples", "-5"]),
        "text_ckpt": (["--ckpt", str(tmp_path / "notes.ckpt")], ["not a PyTorch checkpoint"]),
        "yaml_ckpt": (["--ckpt", str(tmp_path / "config.ckpt")], ["not a PyTorch checkpoint"]),
        "broken_config": (["--ckpt", ckpt, "--config", str(tmp_path / "broken.yaml")], ["broken.yaml", "line 2"]),
    }[case]
    result = call_analyze(*args, cwd=tmp_path)
    assert_one_line_error(result, *words)
    assert "could run code" not in result.stderr


@pytest.mark.parametrize("case", ["negative_eps", "abbreviation", "broken_config", "gpu_config"])
def test_careless_train_input_is_one_line(tmp_path, case):
    if case == "gpu_config" and torch.cuda.is_available():
        pytest.skip("this machine has the GPU the config asks for")
    (tmp_path / "broken.yaml").write_text("trainer:\n  max_epochs: [1\n")
    args, words = {
        "negative_eps": (["--model.init_args.eps", "-1"], ["eps must be ≥ 0"]),
        "abbreviation": (["--trainer.max_epoch", "1"], ["max_epoch"]),
        "broken_config": (["--config", str(tmp_path / "broken.yaml")], ["broken.yaml", "line 3"]),
        "gpu_config": (
            ["--config", str(REPO / "configs" / "cifar10_standard.yaml"), "--data.data_dir", str(tmp_path)],
            ["--trainer.accelerator cpu"],
        ),
    }[case]
    started = time.perf_counter()
    data = [] if case == "gpu_config" else TINY  # the CIFAR config's own data
    result = call_train("fit", *args, *data, "--trainer.default_root_dir", str(tmp_path / "run"), cwd=tmp_path)
    assert_one_line_error(result, *words)
    assert time.perf_counter() - started < 60, "refused before training"


def test_wandb_lines_come_before_the_error_line(tmp_path):
    """A run that fails after W&B started: W&B's closing lines print first, the error line last."""
    import subprocess
    import sys

    from helpers import REPO, clean_env

    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "fit",
            "--data",
            "lightning_pse.data.MNISTDataModule",
            "--data.data_dir",
            str(tmp_path / "absent"),
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
        ],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 2 and lines[-1].startswith("error: MNIST not found"), lines[-5:]
    assert sum(line.startswith("error:") for line in lines) == 1


def test_the_wandb_line_says_offline_when_wandb_mode_forces_it(tmp_path):
    result = run_train(
        "fit",
        *TINY,
        "--trainer.max_epochs",
        "1",
        "--trainer.default_root_dir",
        str(tmp_path / "run"),
        "--trainer.callbacks",
        "[]",
        cwd=tmp_path,
        env_extra={"WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wandb_lines = [line for line in result.stdout.splitlines() if line.startswith("W&B run")]
    assert wandb_lines and "offline" in wandb_lines[0], result.stdout[-2000:]


def test_quiet_prints_one_line_per_section_even_on_a_terminal(fitted_run, tmp_path, monkeypatch):
    from lightning_pse import progress

    monkeypatch.setattr(progress, "default_mode", lambda: "bars")  # as if stderr were a terminal
    root, _ = fitted_run
    ckpt = root / "checkpoints" / "last.ckpt"
    common = ["--ckpt", ckpt, "--sections", "robustness", "--num-samples", "4", "--attacks", FAST_ATTACK]
    shown = call_analyze(*common, "--out", tmp_path / "bars", cwd=root)
    quiet = call_analyze(*common, "--quiet", "--out", tmp_path / "quiet", cwd=root)
    assert shown.returncode == 0 and quiet.returncode == 0, quiet.stderr[-2000:]
    assert "\r" in shown.stderr and "robustness: done in" not in shown.stderr, "bars on a terminal"
    assert "\r" not in quiet.stderr and "robustness: done in" in quiet.stderr, "--quiet: one line"
