"""benchmarks/dose_response.py's table: the comparison's rules across models, the seed bootstrap
resampling within each training ε, and the figure."""

import json
import math
import sys

import pytest

from lightning_pse.analysis.compare import compare, comparison_row

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import dose_response  # noqa: E402


def report(robust: float, detectors: int, fooled: int = 40, promotion: float = 0.25) -> dict:
    """A finished analysis: worst case ``robust`` on 200 images, ``detectors`` of 128 units, and a
    bounded PGD that fooled ``fooled`` images, a share ``promotion`` of them promotion-dominated."""
    return {
        "source": {"training": {"method": "PGDATModule"}, "hyper_parameters": {}},
        "checkpoint": "runs/dose_response/x/model.ckpt",
        "num_samples": 200,
        "threat_model": {"eps_text": "0.1"},
        "clean": {"value": 0.9, "ci95": [0.85, 0.93], "n": 200},
        "worst_case": {"value": robust, "ci95": [robust - 0.05, robust + 0.05], "n": 200},
        "pse": {
            "attacks": {
                "pgd": {
                    "bounded": True,
                    "num_analyzed": fooled,
                    "image_type_shares": {"suppression": 0.5, "promotion": promotion, "balanced": 0.25},
                }
            }
        },
        "dissection": {
            "interpretable_units": detectors,
            "spearman_sensitivity_iou": 0.3,
            "num_units": 128,
            "num_probe_images": 64,
        },
    }


def write_study(root, models):
    for (eps, seed), body in models.items():
        folder = root / f"eps{eps:g}" / f"seed{seed}" / "analysis"
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(body))


def test_identical_seeds_give_a_bootstrap_interval_of_one_point(tmp_path):
    """Both seeds of each ε give the same numbers (a non-monotone relation, ρ = −0.4): resampling
    seeds within ε changes nothing, so the interval is ρ itself; resampling across ε would drop and
    repeat radii and spread it."""
    detectors = {0: 5, 0.1: 9, 0.2: 7, 0.3: 1}
    models = {(eps, seed): report(0.1 + eps, d) for eps, d in detectors.items() for seed in (0, 1)}
    write_study(tmp_path, models)
    found = dose_response.reports(tmp_path)
    assert [(e, s) for _, _, e, s in found] == sorted(models)
    rows = compare([(label, r) for label, r, _, _ in found])["rows"]
    eps = [e for _, _, e, _ in found]
    low, high = dose_response.seed_bootstrap(rows, eps, "interpretable_units", resamples=200)
    assert low == pytest.approx(-0.4) and high == pytest.approx(-0.4)


def test_seeds_that_disagree_widen_the_interval(tmp_path):
    models = {}
    for eps in (0, 0.05, 0.1, 0.15):
        models[(eps, 0)] = report(0.1 + eps, 2 + int(40 * eps))
        models[(eps, 1)] = report(0.1 + eps + 0.01, 8 - int(40 * eps))
    write_study(tmp_path, models)
    found = dose_response.reports(tmp_path)
    rows = compare([(label, r) for label, r, _, _ in found])["rows"]
    low, high = dose_response.seed_bootstrap(rows, [e for _, _, e, _ in found], "interpretable_units")
    assert low < high and -1 <= low and high <= 1


def test_the_table_prints_every_model_metric_and_the_family(tmp_path, capsys):
    """ε 0's models fooled 19 images (5 promotion-dominated): their shares are shown with n and left out."""
    models = {
        (eps, seed): report(0.1 + eps + 0.01 * seed, 3 + seed, fooled=19, promotion=5 / 19)
        if eps == 0
        else report(0.1 + eps + 0.01 * seed, 3 + seed)
        for eps in (0, 0.05, 0.1)
        for seed in (0, 1)
    }
    write_study(tmp_path, models)
    dose_response.main(["table", "--out", str(tmp_path), "--figures", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| ε 0 seed 0 | 0.900 | 0.100" in out and "metrics tested (Holm)" in out
    share_row = next(line for line in out.splitlines() if line.startswith("| share of promotion-dominated images"))
    assert "(0.263 [0.118, 0.488], n = 19)" in share_row, "below the 20-image minimum: shown with n, left out"
    assert (tmp_path / "dose_response.png").stat().st_size > 1000


def test_the_table_refuses_a_study_with_fewer_than_three_models(tmp_path):
    write_study(tmp_path, {(0, 0): report(0.1, 1)})
    with pytest.raises(SystemExit, match="1 finished analyses"):
        dose_response.main(["table", "--out", str(tmp_path)])


def test_a_share_carries_its_wilson_interval_over_the_fooled_images():
    """The table's per-model intervals are the comparison row's (the sections' cells): Wilson over
    the fooled images for a share, none for a ρ over too few units to have one."""
    row = comparison_row(report(0.5, 3, fooled=40, promotion=0.25), "m", "pgd")
    low, high = row["intervals"]["pse_promotion_share"]
    assert (round(low, 3), round(high, 3)) == (0.142, 0.402)
    few_units = comparison_row({"dissection": {"num_units": 3, "spearman_sensitivity_iou": 0.3}}, "m")
    assert math.isnan(few_units["intervals"]["spearman_sensitivity_iou"][0])


@pytest.mark.parametrize("eps, autoattack", [(0.0, True), (0.1, False)])
def test_the_analysis_command_is_one_analyze_accepts(tmp_path, eps, autoattack):
    """Every option the study passes exists and takes its value (a flag without one is caught here,
    not an hour into the study)."""
    from lightning_pse.analysis.options import build_parser

    parser = dose_response.argparse.ArgumentParser()
    args = parser.parse_args([])
    args.out, args.num_samples, args.min_fooled, args.stability_draws = tmp_path, 200, 20, 20
    args.autoattack_eps = [0.0, 0.05, 0.15]
    options = build_parser().parse_args(dose_response.analyze_command(eps, 1, args))
    assert options.eps == 0.1 and options.min_fooled == 20 and options.quiet is True
    assert options.dissection.probe == "data" and options.dissection.stability_draws == 20
    assert (options.robustness == "autoattack") == autoattack
    assert options.out == str(tmp_path / f"eps{eps:g}" / "seed1" / "analysis")


def test_the_verdict_table_gives_each_models_verdicts_inside_the_threat_model(monkeypatch):
    """One row per claim (its attack name dropped), one column per model: verdict, effect with its
    interval where there is one, n; rows of attacks outside the threat model are left out."""
    from lightning_pse.analysis import registry

    rows = {
        "a": [
            ["(i) types split (pgd)", "suppression 0.6 ...", "—", 24, 20, "holds"],
            ["(i) types split (cw)", "suppression 0.4 ...", "—", 140, 20, "outside the threat model: cw ..."],
            ["(iii) top units are detectors", 0.25, "[0.010, 0.487]", 13, 5, "holds"],
        ],
        "b": [["(i) types split (pgd)", "suppression 0.9 ...", "—", 30, 20, "does not hold"]],
    }
    monkeypatch.setattr(registry, "finding_rows", lambda findings: rows[findings["model"]])
    found = [(label, {"findings": {"model": label}}, 0.0, 0) for label in ("a", "b")]
    assert dose_response.verdict_table(found).splitlines() == [
        "| finding | a | b |",
        "|---|---|---|",
        "| (i) types split | holds (n = 24) | does not hold (n = 30) |",
        "| (iii) top units are detectors | holds (0.250 [0.010, 0.487], n = 13) | — |",
    ]
