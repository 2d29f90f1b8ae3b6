"""benchmarks/randomized_defence.py: the numbers it takes from a report, and its table."""

import json
import sys
from pathlib import Path

import pytest

from lightning_pse.attacks import presets
from lightning_pse.attacks.cascade import Cascade

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import randomized_defence  # noqa: E402


def fake_report(ours: float, autoattack: float, worst: float, only_aa: int, only_ours: int) -> dict:
    return {
        "clean_accuracy": 0.8,
        "our_worst_case": {"value": ours},
        "autoattack": {
            "value": autoattack,
            "broken_only_by_autoattack": only_aa,
            "broken_only_by_our_attacks": only_ours,
        },
        "worst_case": {"value": worst},
        "elapsed_seconds": 12.0,
    }


def test_the_table_gives_each_run_and_each_modes_mean_and_sd():
    runs = [
        ("undefended", 0, randomized_defence.summary(fake_report(0.7, 0.7, 0.7, 0, 0))),
        ("deterministic", 0, randomized_defence.summary(fake_report(0.6, 0.5, 0.5, 2, 0))),
        ("deterministic", 1, randomized_defence.summary(fake_report(0.4, 0.3, 0.3, 4, 0))),
    ]
    lines = randomized_defence.table(runs).splitlines()
    assert lines[2] == "| undefended | 0 | 0.800 | 0.700 | 0.700 | 0.700 | 0 | 0 | 12 |"
    assert lines[4] == "| deterministic | 1 | 0.800 | 0.400 | 0.300 | 0.300 | 4 | 0 | 12 |"
    # mean ± sd over the two seeds (sample sd): ours 0.5 ± 0.141, AutoAttack 0.4 ± 0.141
    assert (
        lines[5]
        == "| deterministic | mean ± sd | 0.800 ± 0.000 | 0.500 ± 0.141 | 0.400 ± 0.141 | 0.400 ± 0.141 | — | — | — |"
    )
    assert len(lines) == 6, "a mode run once has no mean row"


def test_ours_cascade_runs_the_preset_cascade_and_every_leaves_evaluate_its_default():
    cascade = randomized_defence.our_attacks("cascade", 0.1, 10)
    assert isinstance(cascade, Cascade)
    assert list(cascade) == list(presets.cascade(0.1, 10, "linf"))
    assert cascade["apgd_ce"].eps == 0.1
    assert randomized_defence.our_attacks("every", 0.1, 10) is None  # evaluate: autoattack_like on every sample
    with pytest.raises(ValueError, match="--ours 'first'"):
        randomized_defence.our_attacks("first", 0.1, 10)


def test_runs_of_two_orders_strengths_or_models_are_kept_apart():
    ckpt = Path("runs/fmnist/pgd_at/checkpoints/last.ckpt")
    folder = randomized_defence.run_folder(Path("out"), ckpt, "1a2b3c4d5e6f", "noise", 0.1, "cascade")
    assert folder == Path("out/fmnist_pgd_at_1a2b3c4d_noise0.1_cascade")
    assert randomized_defence.run_folder(Path("out"), ckpt, "1a2b3c4d5e6f", "noise", 0.1, "every") != folder
    assert randomized_defence.run_folder(Path("out"), ckpt, "1a2b3c4d5e6f", "noise", 0.05, "cascade") != folder
    assert randomized_defence.run_folder(Path("out"), ckpt, "9f8e7d6c5b4a", "noise", 0.1, "cascade") != folder


def test_the_plan_evaluates_the_undefended_model_once_with_the_deterministic_runs():
    both = randomized_defence.plan(["deterministic", "eot"], [0, 1])
    assert both == [
        ("undefended", "deterministic", 0),
        ("deterministic", "deterministic", 0),
        ("deterministic", "deterministic", 1),
        ("eot", "eot", 0),
        ("eot", "eot", 1),
    ]
    assert randomized_defence.plan(["eot"], [2]) == [("eot", "eot", 2)]


def test_the_table_reads_the_finished_runs_in_the_plans_order(tmp_path):
    """Rows kept as ``<label>_seed<s>.json``; a run cut short (``.partial``) or never run has none."""
    runs = randomized_defence.plan(["deterministic", "eot"], [0, 1])
    numbers = randomized_defence.summary(fake_report(0.6, 0.5, 0.5, 2, 0))
    for name in ("eot_seed0.json", "undefended_seed0.json", "deterministic_seed1.partial"):
        (tmp_path / name).write_text(json.dumps(numbers))
    rows = randomized_defence.kept_rows(tmp_path, runs)
    assert [(label, seed) for label, seed, _ in rows] == [("undefended", 0), ("eot", 0)]
    assert rows[1][2] == numbers
