"""analyze.py with several checkpoints: the comparison report against the single reports."""

import json
import math

import pytest

from lightning_pse.analysis.compare import chosen_attack, compare, comparison_row, correlations, interpretation_columns
from lightning_pse.output.folder import MARKER
from lightning_pse.output.html import render_comparison

from helpers import call_analyze

# Robustness, PSE and dissection on 8 probe images with one short attack each: seconds per checkpoint.
OPTIONS = [
    "--sections",
    "robustness,pse,dissection",
    "--num_samples",
    "8",
    "--attacks",
    '{"pgd3": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"steps": 3, "seed": 0}}}',
    "--pse_attacks",
    '{"pgd": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"steps": 3, "eps": 0.1, "seed": 0}}}',
    "--dissection.num_concept_images",
    "16",
]


@pytest.fixture(scope="module")
def comparison(fitted_run, tmp_path_factory):
    root, _ = fitted_run
    epochs = sorted((root / "checkpoints").glob("epoch*.ckpt"))
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    result = call_analyze("--ckpt", *map(str, epochs), *OPTIONS, "--out", str(out), cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return epochs, out


def test_the_training_run_keeps_every_epoch(fitted_run):
    root, _ = fitted_run
    assert sorted(p.name for p in (root / "checkpoints").glob("epoch*.ckpt")) == ["epoch000.ckpt", "epoch001.ckpt"]


def test_comparison_rows_equal_the_single_reports(comparison):
    epochs, out = comparison
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "comparison" and (out / MARKER).is_file()
    assert [r["epoch"] for r in report["rows"]] == [0, 1]
    for path, row in zip(epochs, report["rows"]):
        single = json.loads((path.parent.parent / "analysis" / path.stem / "report.json").read_text())
        assert row["robust"] == single["worst_case"]["value"] and row["clean"] == single["clean"]["value"]
        assert row["robust_ci95"] == single["worst_case"]["ci95"]
        assert row["pse_promotion_share"] == single["pse"]["attacks"]["pgd"]["image_type_shares"]["promotion"]
        assert row["pse_promotion_fraction"] == single["pse"]["attacks"]["pgd"]["promotion_fraction"]
        assert row["interpretable_units"] == single["dissection"]["interpretable_units"]
        assert row["spearman_sensitivity_iou"] == single["dissection"]["spearman_sensitivity_iou"]
        assert row["method"] == "PGDATModule(attack_loss=None)"
    html = (out / "report.html").read_text()
    assert "lightning_pse comparison" in html and "Spearman ρ with robust accuracy" in html
    assert {"trends.png", "correlations.png"} <= {p.name for p in (out / "figures").iterdir()}


def test_saved_reports_compare_like_fresh_analyses(comparison, tmp_path):
    epochs, out = comparison
    reports = [str(p.parent.parent / "analysis" / p.stem / "report.json") for p in epochs]
    result = call_analyze("--ckpt", *reports, "--out", str(tmp_path / "again"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = json.loads((out / "report.json").read_text())["rows"]
    saved = json.loads((tmp_path / "again" / "report.json").read_text())["rows"]
    assert [{k: v for k, v in r.items() if k != "label"} for r in saved] == [
        {k: v for k, v in r.items() if k != "label"} for r in fresh
    ]


def test_a_comparison_or_stranger_json_is_refused(comparison, tmp_path):
    _, out = comparison
    stranger = tmp_path / "x.json"
    stranger.write_text('{"a": 1}')
    for source in (out / "report.json", stranger):
        result = call_analyze("--ckpt", str(source), str(source), "--out", str(tmp_path / "c"), cwd=tmp_path)
        assert result.returncode == 2 and "single-checkpoint report.json" in result.stderr
        assert not (tmp_path / "c").exists()


def row_report(robust: float, units: int, epoch: int, fooled: dict | None = None) -> dict:
    """A report of ``robust`` accuracy with ``units`` detectors (128 units on 64 probe images) and,
    per attack name, ``(bounded, fooled images, promotion share)``."""
    attacks = {
        name: {"bounded": bounded, "num_analyzed": n, "image_type_shares": {"promotion": share}}
        for name, (bounded, n, share) in (fooled or {}).items()
    }
    return {
        "source": {"epoch": epoch, "training": {"method": "PGDATModule"}, "hyper_parameters": {}},
        "checkpoint": f"run/checkpoints/epoch{epoch}.ckpt",
        "worst_case": {"value": robust, "ci95": [robust - 0.1, robust + 0.1], "n": 100},
        "dissection": {
            "interpretable_units": units,
            "spearman_sensitivity_iou": 0.5,
            "num_units": 128,
            "num_probe_images": 64,
        },
        "pse": {"attacks": attacks},
    }


def test_correlations_follow_the_rows():
    """Six checkpoints, detectors rising with robustness: ρ = 1 with the exact permutation p 2/720
    (the ordering and its reverse), no Fisher interval below 10 points, and a positive link after
    Holm over the one metric that varies (ρ of a constant column is undefined, not a test)."""
    rising = [row_report(0.1 * i, 10 + i, i) for i in range(6)]
    result = compare([(str(i), r) for i, r in enumerate(rising)])
    units = result["correlations"]["interpretable_units"]
    assert units["rho"] == pytest.approx(1.0) and units["n"] == 6 and all(math.isnan(b) for b in units["ci95"])
    assert units["p"] == pytest.approx(2 / 720) and units["p_holm"] == pytest.approx(2 / 720)
    assert units["link"] == "positive" and result["metrics_tested"] == 1
    falling = correlations([comparison_row(row_report(0.1 * i, 20 - i, i), str(i)) for i in range(6)])
    assert falling["interpretable_units"]["rho"] == pytest.approx(-1.0)
    assert falling["interpretable_units"]["link"] == "negative"
    assert falling["pse_promotion_share"]["n"] == 0 and math.isnan(falling["pse_promotion_share"]["rho"])
    assert set(result["correlations"]) == set(interpretation_columns())
    ten = compare([(str(i), row_report(0.1 * i, 10 + i, i)) for i in range(10)])["correlations"]
    assert ten["interpretable_units"]["ci95"][0] > 0, "a Fisher interval from 10 points on"


def test_four_perfect_points_claim_no_link():
    """ρ = 1 at n = 4 has p = 2/24 > 0.05: no link claimed, however perfect the ranking looks."""
    found = compare([(str(i), row_report(0.1 * i, 10 + i, i)) for i in range(4)])["correlations"]
    entry = found["interpretable_units"]
    assert entry["rho"] == pytest.approx(1.0) and entry["p"] == pytest.approx(2 / 24)
    assert entry["link"] == "none claimed"


def test_holm_corrects_over_every_metric_tested():
    """Two metrics, each with a perfect ranking over 5 points (p = 2/120 each): Holm multiplies the
    smaller by 2, so both land at 2/60 < 0.05; each alone would be 2/120."""
    rows = []
    for i in range(5):
        report = row_report(0.1 * i, 10 + i, i)
        report["dissection"]["spearman_sensitivity_iou"] = 0.1 * i
        rows.append((str(i), report))
    result = compare(rows)
    assert result["metrics_tested"] == 2
    for column in ("interpretable_units", "spearman_sensitivity_iou"):
        entry = result["correlations"][column]
        assert entry["p"] == pytest.approx(2 / 120) and entry["p_holm"] == pytest.approx(2 / 60)


def test_the_pse_columns_come_from_the_bounded_attack_that_fooled_most():
    """C&W (unbounded) fools most but is outside the threat model; of the bounded attacks APGD fools
    5 + 30 against PGD's 3 + 31 over the two checkpoints, so APGD is chosen, though PGD fooled the
    most in the second report."""
    fooled = [
        {"cw": (False, 100, 0.9), "pgd": (True, 3, 0.1), "apgd": (True, 5, 0.2)},
        {"cw": (False, 100, 0.9), "pgd": (True, 31, 0.3), "apgd": (True, 30, 0.4)},
    ]
    reports = [(str(i), row_report(0.5, 3, i, f)) for i, f in enumerate(fooled)]
    assert chosen_attack([r for _, r in reports]) == "apgd"
    result = compare(reports)
    assert result["attack"] == "apgd" and [r["pse_promotion_share"] for r in result["rows"]] == [0.2, 0.4]
    assert chosen_attack([row_report(0.5, 3, 0, {"cw": (False, 100, 0.9)})]) is None


def test_a_point_below_its_findings_minimum_is_greyed_and_left_out():
    """A PSE share over 19 fooled images (the minimum is 20) is shown greyed with its n and left out of
    the correlation; at exactly 20 it counts."""
    counts = [19, 20, 25, 30, 40]
    reports = [(str(i), row_report(0.1 * i, 3, i, {"pgd": (True, n, 0.1 * i)})) for i, n in enumerate(counts)]
    result = compare(reports)
    first, second = result["rows"][:2]
    assert "pse_promotion_share" in first["below_minimum"] and first["support"]["pse_promotion_share"] == [19, 20]
    assert "pse_promotion_share" not in second["below_minimum"]
    assert result["correlations"]["pse_promotion_share"]["n"] == 4
    page = render_comparison(result, {})
    assert '<span class="grey">0.000 (n = 19 &lt; 20; left out)</span>' in page
    assert "Holm-corrected over the 1 metrics tested" in page


def test_comparison_table_goes_to_wandb(comparison, tmp_path):
    epochs, _ = comparison
    reports = [str(p.parent.parent / "analysis" / p.stem / "report.json") for p in epochs]
    out = tmp_path / "reports" / "cmp"
    result = call_analyze("--ckpt", *reports, "--out", str(out), "--wandb", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    tables = list((tmp_path / "reports" / "wandb").glob("offline-run-*/files/media/table/tables/comparison_*.json"))
    assert tables, "the comparison rows as a wandb.Table"
    table = json.loads(tables[0].read_text())
    assert len(table["data"]) == 2 and "robust" in table["columns"] and "method" in table["columns"]


def test_checkpoints_of_other_data_are_refused_unless_the_data_is_named(fitted_run, tmp_path):
    import torch

    root, _ = fitted_run
    first = root / "checkpoints" / "epoch000.ckpt"
    checkpoint = torch.load(first, weights_only=True)
    checkpoint["datamodule_hyper_parameters"]["num_test"] += 8  # the same class, other settings
    other = tmp_path / "other" / "checkpoints" / "epoch000.ckpt"
    other.parent.mkdir(parents=True)
    torch.save(checkpoint, other)
    result = call_analyze("--ckpt", first, other, *OPTIONS, "--out", tmp_path / "cmp", cwd=root)
    assert result.returncode == 2 and "was trained on other data" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "cmp").exists(), "nothing written before the error"
    named = call_analyze("--ckpt", first, other, *OPTIONS, "--data.num_test", "48", "--out", tmp_path / "cmp", cwd=root)
    assert named.returncode == 0, named.stderr[-2000:]
    report = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert len(report["rows"]) == 2
