"""benchmarks/pse_at_study.py's bookkeeping: a run's saved metrics are reused only when measured with
the same evaluation settings, and the tables read the runs they are given."""

import sys

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import pse_at_study  # noqa: E402

EVALUATION = {"num_test": 1000, "apgd_steps": 25, "apgd_targets": 1, "autoattack": False}


def run(clean, pgd20, worst):
    return {"clean": clean, "pgd20": pgd20, "worst_case": worst}


def test_saved_metrics_are_reused_only_under_the_same_evaluation(tmp_path):
    folder = tmp_path / "pgd_at_cw" / "seed0"
    folder.mkdir(parents=True)
    assert pse_at_study.read_metrics(folder, EVALUATION) is None
    pse_at_study.write_metrics(folder, run(0.9, 0.4, 0.3), EVALUATION)
    assert pse_at_study.read_metrics(folder, EVALUATION) == run(0.9, 0.4, 0.3)
    with_autoattack = {**EVALUATION, "autoattack": True}
    assert pse_at_study.read_metrics(folder, with_autoattack) is None
    assert pse_at_study.read_metrics(folder, {**EVALUATION, "num_test": 500}) is None
    # A second evaluation of the same run is kept beside the first; measuring again replaces it.
    pse_at_study.write_metrics(folder, {**run(0.9, 0.4, 0.25), "cascade": 0.3}, with_autoattack)
    pse_at_study.write_metrics(folder, run(0.9, 0.41, 0.31), EVALUATION)
    assert pse_at_study.read_metrics(folder, EVALUATION) == run(0.9, 0.41, 0.31)
    assert pse_at_study.read_metrics(folder, with_autoattack) == {**run(0.9, 0.4, 0.25), "cascade": 0.3}
    assert len(pse_at_study.saved_evaluations(folder)) == 2
    assert [p.name for p in folder.iterdir()] == ["metrics.json"]


def test_tables_give_means_paired_differences_and_each_run():
    results = {
        "pgd_at_cw": {"0": run(0.8, 0.40, 0.30), "1": run(0.8, 0.42, 0.32), "2": run(0.8, 0.44, 0.34)},
        "trades": {"0": run(0.9, 0.50, 0.40), "1": run(0.9, 0.53, 0.41), "2": run(0.9, 0.56, 0.42)},
    }
    rows = pse_at_study.table(results, ["pgd_at_cw", "trades"], [0, 1, 2]).splitlines()
    assert rows[2].startswith("| pgd_at_cw | 80.0 ± 0.0 | 42.0 ± 2.0 | 32.0 ± 2.0 | — | — | — |")
    # Paired differences 10, 11, 12 points (PGD-20) and 10, 9, 8 (worst case): mean 11 and 9, sd 1.
    trades = rows[3]
    assert "| +11.0 [+8.5, +13.5] | +9.0 [+6.5, +11.5] | holds / holds |" in trades
    per_seed = pse_at_study.per_seed_table(results, ["pgd_at_cw", "trades"], [0, 2]).splitlines()
    assert per_seed[0] == "| method | seed 0 clean / PGD-20 / worst | seed 2 clean / PGD-20 / worst |"
    assert per_seed[3] == "| trades | 90.0 / 50.0 / 40.0 | 90.0 / 56.0 / 42.0 |"


@pytest.mark.parametrize("missing", ["seed", "method"])
def test_tables_refuse_runs_they_do_not_have(missing):
    results = {"pgd_at_cw": {"0": run(0.8, 0.4, 0.3)}, "trades": {"0": run(0.9, 0.5, 0.4)}}
    seeds, methods = ([0, 1], ["pgd_at_cw"]) if missing == "seed" else ([0], ["pgd_at_cw", "pse_at"])
    with pytest.raises(KeyError):
        pse_at_study.per_seed_table(results, methods, seeds)


def test_a_gamma_sweep_is_awp_at_each_gamma_against_the_named_baseline():
    name = pse_at_study.awp_method(0.001)
    assert name == "awp_g0.001" and pse_at_study.METHODS[name][1] == {"awp_gamma": 0.001}
    results = {
        "pgd_at_ce": {"0": run(0.8, 0.40, 0.30), "1": run(0.8, 0.42, 0.32), "2": run(0.8, 0.44, 0.34)},
        name: {"0": run(0.7, 0.30, 0.20), "1": run(0.7, 0.33, 0.21), "2": run(0.7, 0.36, 0.22)},
    }
    rows = pse_at_study.table(results, ["pgd_at_ce", name], [0, 1, 2], baseline="pgd_at_ce").splitlines()
    assert "Δ PGD-20 vs pgd_at_ce" in rows[0] and rows[2].endswith("| — | — | — |")
    assert "| -9.0 [-11.5, -6.5] | -11.0 [-13.5, -8.5] |" in rows[3]
