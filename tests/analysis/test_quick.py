"""``analyze --quick``: every section on a handful of images with the robustness and sensitivity
attacks at their smallest budget, a real report (schema-valid JSON and a page) that says its
numbers are not to be quoted."""

import json

from lightning_pse.analysis.cli import main as analyze_main
from lightning_pse.analysis.engine import QUICK_SAMPLES
from lightning_pse.attacks.base import SMALLEST_BUDGET

from helpers import call_cli


def test_a_quick_analysis_writes_a_real_report_of_every_section(fitted_run, tmp_path):
    run, _ = fitted_run
    ckpt = next((run / "checkpoints").glob("last*.ckpt"))
    out = tmp_path / "quick"
    result = call_cli(analyze_main, ["--ckpt", ckpt, "--quick", "--out", out], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["quick"] is True
    assert report["num_samples"] == QUICK_SAMPLES and report["sections"] == [
        "robustness",
        "pse",
        "cam",
        "dissection",
        "masking",
    ]
    for name, entry in report["attacks"].items():
        settings = entry["settings"]
        for setting, smallest in SMALLEST_BUDGET.items():
            assert settings.get(setting, 0) <= smallest, (name, setting, settings)
    assert report["settings"]["dissection"]["num_concept_images"] == QUICK_SAMPLES
    assert "20 steps" in report["pse"]["attacks"]["pgd"]["describe"], "the PSE attacks keep their budget"
    page = (out / "report.html").read_text()
    assert "Quick run: 8 images" in page and "Quick run: 8 images" in result.stdout
    assert "not to be quoted" in report["findings"]["notes"][0]


def test_a_full_analysis_says_nothing_of_a_quick_run(fitted_run, tmp_path):
    run, _ = fitted_run
    ckpt = next((run / "checkpoints").glob("last*.ckpt"))
    out = tmp_path / "full"
    result = call_cli(
        analyze_main, ["--ckpt", ckpt, "--sections", "robustness", "--num_samples", "16", "--out", out], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["quick"] is False and report["num_samples"] == 16
    assert report["attacks"]["pgd20"]["settings"]["steps"] == 20
    assert not any("Quick run" in note for note in report["findings"]["notes"])
