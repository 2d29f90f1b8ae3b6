"""benchmarks/randomized_defence.py: the numbers it takes from a report, and its table."""

import sys

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
