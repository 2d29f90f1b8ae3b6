"""benchmarks/robustness.py: the numbers it takes from a report, its names and its table."""

import sys
from pathlib import Path

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import robustness as benchmark  # noqa: E402


def fake_report(ours: int, autoattack: int, only_aa: int, passes: tuple, seconds: tuple) -> dict:
    return {
        "num_samples": 10,
        "clean": {"count": 9},
        "our_worst_case": {"count": ours},
        "autoattack": {
            "count": autoattack,
            "broken_only_by_autoattack": only_aa,
            "broken_only_by_our_attacks": 0,
            "given_up_broken_by_autoattack": 0,
        },
        "worst_case": {"count": min(ours, autoattack)},
        "passes": {
            "images": 10,
            "ours": {"forward": passes[0], "backward": 0},
            "autoattack": {"forward": passes[1], "backward": 0},
            "seconds": {"ours": seconds[0], "autoattack": seconds[1]},
        },
    }


def test_a_run_is_named_by_its_folders():
    assert benchmark.run_name(Path("runs/fmnist/pgd_at/checkpoints/last.ckpt")) == "fmnist_pgd_at"
    assert benchmark.run_name(Path("runs/dose_response/eps0.1/seed0/model.ckpt")) == "eps0.1_seed0_model"


def test_the_table_gives_each_model_and_the_worst_ratios_over_all():
    rows = {
        "a": benchmark.numbers(fake_report(6, 6, 0, (100, 1000), (10.0, 100.0))),
        "b": benchmark.numbers(fake_report(5, 4, 1, (300, 1000), (20.0, 100.0))),
    }
    lines = benchmark.table(rows).splitlines()
    assert lines[2] == "| a | 10 | 9 | 6 | 6 | 6 | 0 | 0 | 0 | 100 / 1,000 | 0.100 | 10 / 100 | 0.100 |"
    assert lines[3] == "| b | 10 | 9 | 5 | 4 | 4 | 1 | 0 | 0 | 300 / 1,000 | 0.300 | 20 / 100 | 0.200 |"
    assert lines[-1] == (
        "Worst over 2 models: ours 0.300× AutoAttack's passes, 0.200× its time; "
        "1 samples broken only by AutoAttack in all."
    )
