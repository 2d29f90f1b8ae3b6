"""An analysis spread over processes (``evaluate(devices=N)``, ``analyze.py --devices N``) writes the
report one process writes: every number, per-sample records included, on 2 CPU processes (gloo)."""

import json

import pytest

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import PGD
from lightning_pse.dissect import DissectionSettings
from lightning_pse.errors import UserInputError

from helpers import run_analyze

SECTIONS = ["robustness", "pse", "cam", "dissection"]


def light(**overrides) -> dict:
    settings = {
        "attacks": {"pgd": PGD(eps=8 / 255, steps=3, seed=0)},
        "pse_attacks": {"pgd": PGD(eps=16 / 255, steps=3, targeted=True, seed=0)},
        "sensitivity_attack": PGD(eps=8 / 255, steps=2, seed=0),
        "dissection": DissectionSettings(num_concept_images=16),
        "progress": "lines",
    }
    return {**settings, **overrides}


def numbers(report: dict, path: str = "") -> dict:
    """Every number and label of the report by its path, without what differs between runs by
    nature (date, time taken — the analysis's and each attack's seconds —, process count)."""
    if isinstance(report, dict):
        skipped = ("/provenance", "/elapsed_seconds", "/settings/devices", "/passes/seconds")
        return {
            k: v
            for key, value in report.items()
            for k, v in numbers(value, f"{path}/{key}").items()
            if not k.startswith(skipped) and not k.endswith("/seconds")
        }
    if isinstance(report, list):
        return {k: v for i, value in enumerate(report) for k, v in numbers(value, f"{path}[{i}]").items()}
    return {path: report}


def same(value, expected) -> bool:
    if isinstance(expected, float) and isinstance(value, float):
        return value == pytest.approx(expected, rel=1e-5, abs=1e-6, nan_ok=True)
    return value == expected


def assert_same_numbers(two: dict, one: dict) -> None:
    """The same keys, labels and counts; floats equal up to float32 rounding (the processes of a
    spawn run one CPU thread each, so sums inside a convolution may be taken in another order)."""
    two, one = numbers(two), numbers(one)
    assert two.keys() == one.keys()
    differing = {key: (two[key], one[key]) for key in one if not same(two[key], one[key])}
    assert not differing, f"{len(differing)} numbers differ, e.g. {list(differing.items())[:5]}"


@pytest.mark.slow
def test_two_processes_give_the_report_of_one(trained_model, synthetic_data):
    # 20 samples in batches of 4: rank 0 gets batches 0, 2, 4 and rank 1 batches 1, 3; the 16
    # concept images in batches of 4 are dealt the same way.
    settings = light(num_samples=20, batch_size=4)
    one = evaluate(trained_model, synthetic_data, SECTIONS, devices=1, **settings)
    two = evaluate(trained_model, synthetic_data, SECTIONS, devices=2, **settings)
    assert two["settings"]["devices"] == 2 and one["settings"]["devices"] == 1
    assert one["pse"]["attacks"]["pgd"]["num_analyzed"] > 0, "the comparison must cover analysed samples"
    assert one["num_samples"] == two["num_samples"] == 20
    pse_indices = one["pse"]["attacks"]["pgd"]["records"]["index"]
    assert pse_indices == sorted(pse_indices) and max(pse_indices) >= 4, "records from both ranks, in probe order"
    assert_same_numbers(two, one)


@pytest.mark.slow
def test_a_process_without_probe_batches_takes_part(trained_model, synthetic_data):
    # One probe batch and one batch of concept images: rank 1 has nothing to measure but joins the sync.
    settings = light(num_samples=6, batch_size=8, dissection=DissectionSettings(num_concept_images=8))
    one = evaluate(trained_model, synthetic_data, ["robustness", "dissection"], devices=1, **settings)
    two = evaluate(trained_model, synthetic_data, ["robustness", "dissection"], devices=2, **settings)
    assert_same_numbers(two, one)


@pytest.mark.slow
def test_two_processes_give_the_report_of_one_with_gathered_images(trained_model, synthetic_data):
    # 6 images asked in batches of 4 (4 + 2), then gathered batches of 4: cut as one probe set of
    # 10 the third batch would mix asked and gathered images and change the seeded random starts.
    bounded = {"pgd": PGD(eps=8 / 255, steps=3, targeted=True, seed=0)}  # inside the threat model: it gathers
    settings = light(num_samples=6, batch_size=4, pse_attacks=bounded)
    asked = evaluate(trained_model, synthetic_data, ["robustness", "pse"], **settings)
    settings["min_fooled"] = asked["pse"]["attacks"]["pgd"]["num_analyzed"] + 2
    one = evaluate(trained_model, synthetic_data, ["robustness", "pse"], devices=1, **settings)
    two = evaluate(trained_model, synthetic_data, ["robustness", "pse"], devices=2, **settings)
    assert one["gathered"]["images"] > 6 and one["num_samples"] == 6
    assert_same_numbers(two, one)


def test_masking_and_impossible_process_counts_are_refused_before_any_work(trained_model, synthetic_data):
    with pytest.raises(UserInputError, match="masking section runs in one process"):
        evaluate(trained_model, synthetic_data, ["robustness", "masking"], devices=2, num_samples=4)
    with pytest.raises(UserInputError, match="at least 1"):
        evaluate(trained_model, synthetic_data, ["robustness"], devices=0, num_samples=4)
    with pytest.raises(UserInputError, match="torchrun or"):
        evaluate(trained_model, synthetic_data, ["robustness"], devices=1, num_nodes=2, num_samples=4)


def test_a_launch_by_torchrun_must_match_devices_times_nodes(trained_model, synthetic_data, monkeypatch):
    # The environment torchrun gives each of the 4 processes it starts (here: rank 0).
    for name, value in {
        "TORCHELASTIC_RUN_ID": "none",
        "RANK": "0",
        "GROUP_RANK": "0",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "2",
        "WORLD_SIZE": "4",
    }.items():
        monkeypatch.setenv(name, value)
    for devices, num_nodes in ((1, 1), (4, 2)):
        with pytest.raises(UserInputError, match=r"torchrun or SLURM started 4 processes"):
            evaluate(trained_model, synthetic_data, ["robustness"], devices=devices, num_nodes=num_nodes, num_samples=4)


@pytest.mark.slow
def test_analyze_py_devices_2_writes_the_numbers_of_one_process(fitted_run, tmp_path):
    root, _ = fitted_run
    ckpt = str(root / "checkpoints" / "last.ckpt")
    common = ["--ckpt", ckpt, "--sections", "robustness,pse", "--num_samples", "12", "--batch_size", "4", "--quiet"]
    for devices in (1, 2):
        result = run_analyze(*common, "--devices", str(devices), "--out", str(tmp_path / f"d{devices}"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    one, two = (json.loads((tmp_path / f"d{d}" / "report.json").read_text()) for d in (1, 2))
    assert two["settings"]["devices"] == 2
    assert_same_numbers(two, one)
    assert (tmp_path / "d2" / "report.html").is_file()
