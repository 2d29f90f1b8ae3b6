"""analyze.py with several checkpoints: the comparison report against the single reports."""

import json
import math

import pytest

from lightning_pse.analysis.compare import INTERPRETATION, compare, comparison_row, correlations
from lightning_pse.output.folder import MARKER

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


def row_report(robust: float, units: int, epoch: int) -> dict:
    return {
        "source": {"epoch": epoch, "training": {"method": "PGDATModule"}, "hyper_parameters": {}},
        "checkpoint": f"run/checkpoints/epoch{epoch}.ckpt",
        "worst_case": {"value": robust, "ci95": [robust - 0.1, robust + 0.1], "n": 100},
        "dissection": {"interpretable_units": units, "spearman_sensitivity_iou": 0.5},
    }


def test_correlations_follow_the_rows():
    rising = [row_report(0.1 * i, 10 + i, i) for i in range(6)]
    result = compare([(str(i), r) for i, r in enumerate(rising)])
    units = result["correlations"]["interpretable_units"]
    assert units["rho"] == pytest.approx(1.0) and units["n"] == 6 and units["ci95"][0] > 0
    falling = correlations([comparison_row(row_report(0.1 * i, 20 - i, i), str(i)) for i in range(6)])
    assert falling["interpretable_units"]["rho"] == pytest.approx(-1.0)
    assert falling["pse_promotion_share"]["n"] == 0 and math.isnan(falling["pse_promotion_share"]["rho"])
    assert set(result["correlations"]) == set(INTERPRETATION)


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
