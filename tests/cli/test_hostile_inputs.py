"""Hostile and bad inputs through the library and the command-line tools: each a clear error that
names the problem, exit code 2 from the CLIs, no code run from a checkpoint, nothing half-written."""

import os

import pytest
import torch
import yaml

from lightning_pse.analysis.cli import build_attacks
from lightning_pse.dissect import SyntheticConcepts, dissect
from lightning_pse.errors import UserInputError
from lightning_pse.training import ClassifierModule

from helpers import TINY, call_analyze, call_train, error_lines


def batch_of(images):
    return {"image": images, "label": torch.zeros(images.shape[0], dtype=torch.long)}


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda x: x.index_fill_(0, torch.tensor([1]), float("nan")), "NaN or Inf"),
        (lambda x: x.index_fill_(0, torch.tensor([0]), float("inf")), "NaN or Inf"),
        (lambda x: x * 255, r"\[0, 1\]"),
        (lambda x: (x - 0.5) / 0.25, r"\[0, 1\]"),  # normalised outside the model
        (lambda x: x[:, :1], "1 channels but the model takes 3"),
        (lambda x: x[0], r"\[B, C, H, W\]"),
    ],
)
def test_training_and_evaluation_refuse_bad_images(corrupt, message):
    module = ClassifierModule(num_classes=10)
    images = corrupt(torch.rand(4, 3, 32, 32))
    with pytest.raises(UserInputError, match=message):
        module.training_step(batch_of(images), 0)
    with pytest.raises(UserInputError, match=message):
        module.validation_step(batch_of(images), 0)


def test_images_too_small_for_the_model_are_named():
    module = ClassifierModule(num_classes=10)  # small_cnn pools twice by 2
    with pytest.raises(UserInputError, match="cannot take 2×2 images"):
        module.training_step(batch_of(torch.rand(4, 3, 2, 2)), 0)
    with pytest.raises(UserInputError, match="cannot take 2×2 images"):
        module.validation_step(batch_of(torch.rand(4, 3, 2, 2)), 0)


def test_dissection_and_attacks_refuse_nan_images(trained_model):
    from lightning_pse.attacks import PGD

    images = torch.rand(2, 3, 32, 32)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(UserInputError, match="NaN"):
        PGD(steps=1)(trained_model, images, torch.zeros(2, dtype=torch.long))
    probe = SyntheticConcepts(2, seed=0)
    masks = torch.stack([probe[i]["concepts"] for i in range(2)])
    with pytest.raises(UserInputError, match="NaN"):
        dissect(trained_model, "body.7", [(images, masks)], concept_names=probe.concept_names)


@pytest.mark.parametrize(
    "class_path, message",
    [
        ("lightning_pse.attacks.PGDD", "not a Attack"),
        ("lightning_pse.attackz.PGD", "no module"),
        ("os.system", "outside lightning_pse"),
    ],
)
def test_unknown_attack_names_are_refused(class_path, message):
    with pytest.raises(UserInputError, match=message):
        build_attacks({"a": {"class_path": class_path}})


def test_empty_dataset_is_one_line_and_exit_2(tmp_path):
    result = call_train(
        "fit",
        *TINY,
        "--data.num_train",
        "0",
        "--trainer.max_epochs",
        "1",
        "--trainer.default_root_dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(error_lines(result)) == 1 and "at least one sample" in result.stderr


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("command", ["validate", "fit"])
def test_train_cli_refuses_malicious_and_truncated_checkpoints(fitted_run, tmp_path, command):
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Boom()}, evil)
    truncated = tmp_path / "truncated.ckpt"
    good = fitted_run[0] / "checkpoints" / "last.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path, message in (
        (evil, "refusing to load"),
        (truncated, "truncated or corrupt"),
        (tmp_path / "missing.ckpt", "does not exist"),
    ):
        result = call_train(
            command, *TINY, "--trainer.default_root_dir", str(tmp_path / "run"), "--ckpt_path", str(path), cwd=tmp_path
        )
        assert result.returncode == 2, (path.name, result.stderr[-2000:])
        assert len(error_lines(result)) == 1 and message in result.stderr, (path.name, result.stderr[-2000:])
        assert not (tmp_path / "PWNED").exists(), "unpickling ran code"
    assert not (tmp_path / "run" / "checkpoints").exists(), "nothing written that looks like a result"


def test_analysis_config_typos_are_refused(fitted_run, tmp_path):
    config = tmp_path / "analysis.yaml"
    config.write_text(yaml.safe_dump({"num_sample": 10}))
    result = call_analyze(
        "--ckpt",
        str(fitted_run[0] / "checkpoints" / "last.ckpt"),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "'num_sample' is not accepted" in result.stderr
    assert not (tmp_path / "out").exists()


def test_checkpoint_for_other_data_is_refused(fitted_run, tmp_path):
    # The same checkpoint validates (test_train_cli); claiming 5 classes, it no longer fits the data.
    checkpoint = torch.load(fitted_run[0] / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["num_classes"] = 5
    other = tmp_path / "five.ckpt"
    torch.save(checkpoint, other)
    result = call_train(
        "validate", *TINY, "--trainer.default_root_dir", str(tmp_path), "--ckpt_path", str(other), cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(error_lines(result)) == 1 and "num_classes=5 but the data (SyntheticDataModule) has 10" in result.stderr


@pytest.mark.parametrize(
    "tool, args, expected",
    [
        ("train", ["fit", "--model.init_args.lr", "fast"], "--model.init_args.lr: expected float, got 'fast'"),
        ("train", ["fit", "--trainer.max_epoch", "3"], "did you mean --trainer.max_epochs?"),
        ("train", ["fit", "--model.init_args.weight_decy", "1"], "did you mean --model.init_args.weight_decay?"),
        ("analyze", [], "name a model: --ckpt FILE"),
        ("analyze", ["--norm", "l3"], "--norm: choose one of linf, l2, l1, got 'l3'"),
        ("analyze", ["--eps", "-1"], "--eps: ε must be ≥ 0, got '-1'"),
        ("analyze", ["--num-sample", "3"], "unknown option --num_sample; did you mean --num_samples?"),
        ("analyze", ["--pse.rh", "0.1"], "did you mean --pse.rho?"),
        ("analyze", ["--model.name", "small_cnn", "--data.data_dir", "/x"], "--data.KEY needs a data class"),
    ],
)
def test_errors_speak_the_users_options_not_the_parsers(tmp_path, tool, args, expected):
    """The option as typed, what it takes and what it got, or the nearest known option: never
    jsonargparse's NestedArg(...), nor the name of a Python function (parse_eps)."""
    result = (call_train if tool == "train" else call_analyze)(*args, cwd=tmp_path)
    (line,) = error_lines(result)
    assert result.returncode == 2 and expected in line, line
    assert "NestedArg" not in line and "parse_eps" not in line and "\x1b[" not in line


def test_a_folder_given_as_checkpoint_names_the_checkpoint_inside(fitted_run, tmp_path):
    root, _ = fitted_run
    for tool, args in (("analyze", ["--ckpt", str(root)]), ("train", ["fit", *TINY, "--ckpt_path", str(root)])):
        result = (call_train if tool == "train" else call_analyze)(*args, cwd=tmp_path)
        (line,) = error_lines(result)
        assert result.returncode == 2 and f"{root} is a folder" in line, line
        assert "last.ckpt" in line and "does not exist" not in line


def test_a_pickled_whole_model_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(ClassifierModule(num_classes=10).model, path)
    args = [
        "--model.name",
        "small_cnn",
        "--model.weights",
        str(path),
        "--data",
        "lightning_pse.data.SyntheticDataModule",
    ]
    (line,) = error_lines(call_analyze(*args, cwd=tmp_path))
    assert "refusing to load" in line and "pickled model" in line and "\x1b[" not in line
