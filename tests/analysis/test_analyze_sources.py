"""Any model into ``analyze.py``: plain state_dicts, ``.safetensors``, torchvision layouts,
RobustBench's local zoo layout, and the Python ``evaluate`` API; misfits and unsafe files refused."""

import copy
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from lightning_pse.analysis import evaluate
from lightning_pse.analysis.sources import import_robustbench, read_weights, state_dict_source
from lightning_pse.attacks import PGD
from lightning_pse.data import SyntheticDataModule
from lightning_pse.errors import UserInputError
from lightning_pse.models import build_model

from helpers import FAST, call_analyze, error_lines, run_analyze, write_cifar

SYNTHETIC = [
    "--data",
    "lightning_pse.data.SyntheticDataModule",
    "--data.num_train",
    "64",
    "--data.num_val",
    "64",
    "--data.num_test",
    "64",
]
LIGHT_EXPLAIN = [
    "--pse_attacks",
    '{"pgd": {"class_path": "lightning_pse.attacks.PGD", "init_args": '
    '{"eps": 0.0627, "steps": 3, "targeted": true, "seed": 0}}}',
    "--pse.estimator",
    "gradient",
]


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("fmt", ["pt", "safetensors", "lightning_keys"])
def test_a_plain_state_dict_of_a_zoo_architecture_is_analysed(trained_model, tmp_path, fmt):
    state = {k: v.contiguous() for k, v in trained_model.state_dict().items()}
    if fmt == "safetensors":
        path = tmp_path / "weights.safetensors"
        save_file(state, path)
    else:
        path = tmp_path / "weights.pt"
        torch.save({f"model.{k}": v for k, v in state.items()} if fmt == "lightning_keys" else state, path)
    result = run_analyze(
        "--model.name",
        "small_cnn",
        "--model.weights",
        str(path),
        *SYNTHETIC,
        *FAST,
        *LIGHT_EXPLAIN,
        "--sections",
        "robustness,cam",
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["model"] == "small_cnn" and report["source"]["kind"] == "state_dict"
    assert report["clean_accuracy"] > 0.8, "the trained weights were loaded"
    assert report["cam"]["method"] == "cam", "our zoo models keep CAM"


def test_torchvision_weights_in_torchvision_layout_load(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(num_classes=10).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    weights = read_weights(path)
    data = SyntheticDataModule(num_train=8, num_val=8, num_test=8)
    source = state_dict_source("tv_resnet18", str(path), {}, data)
    x = torch.rand(2, 3, 32, 32)
    expected = reference(source.model.normalize(x))
    assert torch.allclose(source.model(x), expected, atol=1e-5), "the torchvision weights drive the model"
    assert set(weights) == set(reference.state_dict())


@pytest.mark.parametrize("case", ["architecture", "classes"])
def test_weights_of_another_architecture_or_class_count_are_one_line_errors(trained_model, tmp_path, case):
    path = tmp_path / "weights.pt"
    if case == "architecture":
        torch.save(build_model("resnet18_cifar", 10, width=8).state_dict(), path)
    else:
        torch.save(build_model("small_cnn", 5).state_dict(), path)
    result = call_analyze("--model.name", "small_cnn", "--model.weights", str(path), *SYNTHETIC, *FAST, cwd=tmp_path)
    assert result.returncode == 2 and len(error_lines(result)) == 1 and "Traceback" not in result.stderr
    assert "does not fit small_cnn" in error_lines(result)[0]
    if case == "classes":
        assert "size mismatch" in error_lines(result)[0]


def _robustbench_cifar(tmp_path, weights: dict | object):
    """RobustBench's layout under tmp_path/models and tiny CIFAR-10 files under tmp_path/cifar."""
    folder = tmp_path / "models" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    torch.save(weights, folder / "Wong2020Fast.pt")
    write_cifar(tmp_path / "cifar", 20, 10)
    return [
        "--model",
        "robustbench:Wong2020Fast",
        "--dataset",
        "cifar10",
        "--threat-model",
        "Linf",
        "--model-dir",
        str(tmp_path / "models"),
        "--data.data_dir",
        str(tmp_path / "cifar"),
    ]


def test_a_robustbench_zoo_model_is_loaded_by_name_and_analysed_end_to_end(tmp_path):
    utils = import_robustbench()
    torch.manual_seed(0)
    architecture = utils.all_models[utils.BenchmarkDataset("cifar10")][utils.ThreatModel("Linf")]["Wong2020Fast"]
    model = architecture["model"]()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}  # RobustBench's files carry DDP prefixes
    args = _robustbench_cifar(tmp_path, {"state_dict": state})
    result = run_analyze(
        *args,
        "--num-samples",
        "6",
        "--sections",
        "robustness,pse,cam",
        *LIGHT_EXPLAIN,
        "--attacks",
        FAST[-1],
        "--out",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["model"] == "robustbench:Wong2020Fast" and report["source"]["kind"] == "robustbench"
    assert report["threat_model"]["eps_text"] == "8/255", "ε from the RobustBench threat model"
    assert report["cam"]["method"] == "grad_cam" and report["cam"]["layer"], "no GAP+linear head: Grad-CAM"
    assert {"pse", "attacks"} <= set(report)
    assert (tmp_path / "r" / "report.html").read_text().count("grad_cam") >= 1
    x = torch.rand(2, 3, 32, 32)
    model.load_state_dict({k[len("module.") :]: v for k, v in state.items()})
    assert report["num_samples"] == 6 and model.eval()(x).shape == (2, 10)


def test_missing_robustbench_weights_are_not_downloaded(tmp_path):
    write_cifar(tmp_path / "cifar", 4, 10)
    result = call_analyze(
        "--model",
        "robustbench:Wong2020Fast",
        "--model_dir",
        str(tmp_path / "models"),
        "--data.data_dir",
        str(tmp_path / "cifar"),
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "are not there" in error_lines(result)[0]
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*.pt"))


@pytest.mark.parametrize("source", ["ckpt", "weights", "robustbench"])
def test_a_pickle_that_would_run_code_is_refused_for_every_source(tmp_path, source):
    payload = {"state_dict": {}, "payload": Boom()}
    if source == "robustbench":
        args = _robustbench_cifar(tmp_path, payload)
    else:
        path = tmp_path / ("evil.ckpt" if source == "ckpt" else "evil.pt")
        torch.save(payload, path)
        args = (
            ["--ckpt", str(path)]
            if source == "ckpt"
            else ["--model.name", "small_cnn", "--model.weights", str(path), *SYNTHETIC]
        )
    result = call_analyze(*args, *FAST, cwd=tmp_path)
    assert result.returncode == 2 and not (tmp_path / "PWNED").exists()
    assert len(error_lines(result)) == 1 and "refusing to load" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_takes_any_module_and_leaves_it_unchanged(trained_model, synthetic_data):
    class Foreign(torch.nn.Module):  # no feature_layer / classifier: Grad-CAM at its last conv layer
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    model = Foreign(copy.deepcopy(trained_model)).train()  # a copy: the session's model stays in eval mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = evaluate(
        model,
        synthetic_data,
        sections=["robustness", "cam"],
        num_samples=8,
        attacks={"pgd": PGD(steps=2, seed=0)},
        pse_attacks={"pgd": PGD(eps=16 / 255, steps=2, targeted=True, seed=0)},
    )
    assert report["cam"]["method"] == "grad_cam" and report["cam"]["layer"] == "inner.body.7.0"
    assert report["clean_accuracy"] > 0.8 and "provenance" in report
    assert model.training and all(m.training for m in model.modules()), "mode restored"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "weights and BN statistics untouched"
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(UserInputError, match="no layer"):
        evaluate(model, synthetic_data, sections=["cam"], layer="inner.nope", num_samples=4)
