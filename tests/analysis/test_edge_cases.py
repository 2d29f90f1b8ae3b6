"""Every section and finding at n = 0 and n = 1: a model no attack fools, one every attack fools, a
one-sample probe — through ``evaluate()``, the callbacks and ``analyze.py`` — gives a report that
says so, never an exception. And the page shows the numbers of report.json."""

import copy
import html.parser
import json
import math
import shutil

import jsonschema
import pytest
import yaml

from lightning_pse.analysis import evaluate, report_schema
from lightning_pse.analysis.registry import page
from lightning_pse.attacks import PGD
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.cam.settings import CAMSettings
from lightning_pse.dissect import DissectionSettings
from lightning_pse.errors import UserInputError
from lightning_pse.schemas import REPORT_SCHEMA_VERSION

from helpers import call_analyze, quiet_trainer

SECTIONS = ["robustness", "pse", "cam", "dissection", "masking"]
LIGHT = {"dissection": DissectionSettings(num_concept_images=16, fractions=[0.0, 0.1]), "batch_size": 16}


def attacks(eps: float) -> dict:
    return {
        "attacks": {"pgd": PGD(eps=eps, steps=10, seed=0)},
        "pse_attacks": {"pgd": PGD(eps=eps, steps=10, seed=0)},
        "sensitivity_attack": PGD(eps=eps, steps=2, seed=0),
    }


@pytest.fixture(scope="module")
def unfooled(trained_model, synthetic_data):
    """An attack too weak to fool anything (ε = 1e-6)."""
    return evaluate(trained_model, synthetic_data, SECTIONS, num_samples=24, eps=1e-6, **attacks(1e-6), **LIGHT)


@pytest.fixture(scope="module")
def all_fooled(trained_model, synthetic_data):
    """An attack that fools every correctly classified sample (ε = 0.9: almost any image is within reach)."""
    return evaluate(trained_model, synthetic_data, SECTIONS, num_samples=24, eps=0.9, **attacks(0.9), **LIGHT)


def test_a_model_no_attack_fools_gets_a_report_that_says_so(unfooled):
    pse = unfooled["pse"]["attacks"]["pgd"]
    assert pse["num_attacked"] > 0 and pse["num_analyzed"] == 0 and pse["image_type_shares"]["suppression"] is None
    assert unfooled["worst_case"]["count"] == unfooled["clean"]["count"]
    gain = unfooled["cam"]["attacks"]["pgd"]["gain_suppression_true"]
    assert gain["n"] == 0 and gain["mean"] is None
    findings = unfooled["findings"]
    (note,) = findings["notes"]
    assert note.startswith(f"No attack fooled any of the {pse['num_attacked']} correctly classified probe samples")
    assert findings["perturbation_types"]["pgd"]["verdict"] == "insufficient data"
    html = page(unfooled, {})
    assert note in html and "(i) perturbations split" not in html, "one sentence instead of rows of n = 0"


def test_a_model_every_attack_fools_gets_a_full_report(all_fooled):
    pse = all_fooled["pse"]["attacks"]["pgd"]
    assert pse["num_analyzed"] == pse["num_attacked"] > 0 and pse["success_rate"] == 1.0
    assert all_fooled["worst_case"]["count"] == 0 and all_fooled["worst_case"]["ci95"][0] == 0.0
    assert all_fooled["findings"]["notes"] == []
    assert all_fooled["findings"]["perturbation_types"]["pgd"]["n"] == pse["num_analyzed"]


def test_a_one_sample_probe_is_a_report(trained_model, synthetic_data):
    report = evaluate(trained_model, synthetic_data, SECTIONS, num_samples=1, eps=0.9, **attacks(0.9), **LIGHT)
    assert report["clean"]["n"] == 1
    pse = report["pse"]["attacks"]["pgd"]
    assert pse["num_analyzed"] == 1 == len(pse["records"]["index"]), "one fooled image: one record, not a 0-d tensor"
    assert report["cam"]["attacks"]["pgd"]["gain_suppression_true"]["n"] <= 1
    for finding in report["findings"]["sensitive_units"].values():
        assert finding["verdict"] == "insufficient data" and "1 probe images" in finding["reason"]
    assert report["dissection"]["num_probe_images"] == 1


def test_the_callbacks_take_a_probe_nothing_fools_and_a_one_sample_probe(trained_module, synthetic_data):
    for eps, num_samples in ((1e-6, 8), (1.0, 1)):
        callbacks = [
            RobustEvalCallback(PGD(eps=eps, steps=2, seed=0), num_samples=num_samples),
            PSECallback(attacks={"pgd": PGD(eps=eps, steps=2, seed=0)}, num_samples=num_samples),
            CAMCallback(attacks={"pgd": PGD(eps=eps, steps=2, seed=0)}, num_samples=num_samples),
            DissectionCallback(
                attack=PGD(eps=eps, steps=2, seed=0),
                dissection=DissectionSettings(num_concept_images=16),
                num_samples=num_samples,
            ),
        ]
        trainer = quiet_trainer(callbacks=callbacks)
        metrics = trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)[0]
        fooled = metrics["pse/pgd/success_rate"]
        assert (fooled == 0.0) if eps < 1 else (fooled == 1.0 or math.isnan(fooled)), (eps, fooled)
        assert "dissect/body.7/interpretable_units" in metrics


class Tables(html.parser.HTMLParser):
    """Every table of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables_of(page: str) -> list[list[dict[str, str]]]:
    """Every table of the page as rows ``{header: cell}``."""
    parser = Tables()
    parser.feed(page)
    return [[dict(zip(t[0], row)) for row in t[1:]] for t in parser.tables if t]


def table_with(tables: list[list[dict[str, str]]], column: str) -> list[dict[str, str]]:
    """The first table that has ``column``."""
    return next(t for t in tables if t and column in t[0])


def three(value: float) -> str:
    return f"{value:.3f}"


def interval(ci: list[float]) -> str:
    return f"[{three(ci[0])}, {three(ci[1])}]"


def test_the_page_shows_report_json_numbers_and_findings_rest_on_the_tables(all_fooled):
    """Read report.html back: every finding's effect, interval and n equal its report.json fields at
    the printed precision, and each effect is a number (or a difference of numbers) that the section
    tables print."""
    tables = tables_of(page(all_fooled, {}))
    rows = {row["claim"]: row for row in table_with(tables, "claim")}
    findings = all_fooled["findings"]

    def row_of(prefix: str) -> dict[str, str]:
        (row,) = [row for claim, row in rows.items() if claim.startswith(prefix)]
        return row

    types = findings["perturbation_types"]["pgd"]
    row = row_of("(i)")
    for label, share in types["shares"].items():
        assert f"{label} {three(share['value'])} {interval(share['ci95'])}" in row["effect"]
    assert row["n"] == str(types["n"]) and row["minimum n"] == str(types["min_n"])
    assert row["verdict"].startswith(types["verdict"])
    (pse_row,) = table_with(tables, "suppression images")
    pse = all_fooled["pse"]["attacks"]["pgd"]
    assert pse_row["images"] == row["n"] == str(pse["num_analyzed"]) and pse_row["success rate"] == three(1.0)
    for label in ("suppression", "promotion", "balanced"):
        shown = pse_row[f"{label} images"]
        assert shown == three(types["shares"][label]["value"]) == three(pse["image_type_shares"][label])
        assert pse_row[f"{label} energy"] == three(pse["group_energy_shares"][label])
    (attack_row,) = table_with(tables, "robust / n")
    robust = all_fooled["attacks"]["pgd"]
    assert attack_row["robust acc"] == three(robust["robust_accuracy"])
    assert attack_row["robust / n"] == f"{robust['robust']}/{robust['n']}"
    assert attack_row["95 % interval"] == interval(robust["ci95"])

    (cam_row,) = table_with(tables, "suppression gain over third class [95 %] (n)")
    for kind, region in (("suppression", "true"), ("promotion", "target")):
        finding = findings["cam_regions"]["pgd"][f"{kind}_on_{region}_region"]
        row = row_of(f"(ii) the {kind}")
        assert row["effect"] == three(finding["effect"]) and row["n"] == str(finding["n"])
        assert row["95 % interval"] == interval(finding["ci95"])
        assert (
            cam_row[f"{kind} gain over third class [95 %] (n)"]
            == f"{row['effect']} {row['95 % interval']} (n = {row['n']})"
        )

    dissection = all_fooled["dissection"]
    k = dissection["k"]
    top = findings["sensitive_units"]["top_sensitive_are_detectors"]
    row = row_of("(iii) the top-")
    assert row["effect"] == three(top["effect"]) and row["n"] == str(k)
    assert row["95 % interval"] == interval(top["ci95"])
    by_name = {r[f"units (k = {k})"]: r for r in table_with(tables, f"units (k = {k})")}
    top_share = by_name["top k by sensitivity"]["detector share"]
    random_share = by_name["random k (expected: the whole layer)"]["detector share"]
    assert top_share == three(dissection["topk_detector_share"])
    assert random_share == three(dissection["randomk_detector_share"])
    assert abs(float(row["effect"]) - (float(top_share) - float(random_share))) <= 0.0015, "one baseline"
    row = row_of("(iii) unit sensitivity")
    assert row["effect"] == three(dissection["spearman_sensitivity_iou"]) and row["n"] == str(dissection["num_units"])


def test_reports_validate_against_the_shipped_schema_and_drifted_ones_do_not(unfooled, all_fooled):
    schema = report_schema()
    for report in (unfooled, all_fooled):
        assert report["schema_version"] == REPORT_SCHEMA_VERSION
        jsonschema.validate(report, schema)
    drifted = copy.deepcopy(all_fooled)
    drifted["pse"]["pgd"] = drifted["pse"]["attacks"]["pgd"]  # an attack beside the blocks
    drifted_key = copy.deepcopy(all_fooled)
    drifted_key["attacks"]["pgd"]["robust_accuracy_ci95"] = drifted_key["attacks"]["pgd"].pop("ci95")
    unexplained = copy.deepcopy(all_fooled)
    unexplained["findings"]["perturbation_types"]["pgd"]["verdict"] = "holds on faith"
    no_reason = copy.deepcopy(unfooled)
    del no_reason["findings"]["perturbation_types"]["pgd"]["min_n"]
    for bad in (drifted, drifted_key, unexplained, no_reason):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


NOTHING_FOOLS = {
    "attacks": {"pgd": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"eps": 1e-6, "steps": 2, "seed": 0}}},
    "pse_attacks": {
        "pgd": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"eps": 1e-6, "steps": 2, "seed": 0}}
    },
    "sensitivity_attack": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"eps": 1e-6, "steps": 2}},
    "dissection": {"num_concept_images": 16, "fractions": [0.0, 0.1]},
}


def test_analyze_py_on_checkpoints_nothing_fools_writes_reports_and_a_comparison(fitted_run, tmp_path):
    """The issue's commands: analyze.py on a barely trained checkpoint (and two, for a comparison)
    whose attacks fool nothing on a 2-sample probe: reports that say so, no exception."""
    root, _ = fitted_run
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    ckpts = []
    for name in ("epoch000.ckpt", "epoch001.ckpt"):
        shutil.copy(root / "checkpoints" / name, run / name)
        ckpts.append(str(run / name))
    config = tmp_path / "nothing_fools.yaml"
    config.write_text(yaml.safe_dump(NOTHING_FOOLS))
    args = ["--config", str(config), "--num-samples", "2"]
    result = call_analyze("--ckpt", *ckpts, *args, "--out", str(tmp_path / "cmp"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("epoch000", "epoch001"):
        report = json.loads((tmp_path / "run" / "analysis" / name / "report.json").read_text())
        assert report["pse"]["attacks"]["pgd"]["num_analyzed"] == 0
        attacked = report["pse"]["attacks"]["pgd"]["num_attacked"]
        opening = "No attack fooled any of the" if attacked else "The model classified none of the probe samples"
        assert report["findings"]["notes"][0].startswith(opening)
    comparison = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert [row["label"] for row in comparison["rows"]] == ["run/epoch000", "run/epoch001"]
    assert "the PSE and CAM findings have nothing to analyse" in result.stdout


def test_section_settings_out_of_range_or_not_a_settings_object_are_refused_before_any_work(
    trained_model, synthetic_data
):
    with pytest.raises(UserInputError, match="0 < quantile < 1"):
        DissectionSettings(quantile=2.0)
    with pytest.raises(UserInputError, match=r"cam.threshold must lie in \[0, 1\], got 1.5"):
        CAMSettings(threshold=1.5)
    with pytest.raises(UserInputError, match="cam.draws must be at least 1"):
        CAMSettings(draws=0)
    with pytest.raises(UserInputError, match=r"dissection.fractions must lie in \[0, 1\)"):
        DissectionSettings(fractions=[0.0, 1.0])
    with pytest.raises(UserInputError, match="dissection.num_concept_images must be at least 1"):
        DissectionSettings(num_concept_images=0)
    with pytest.raises(UserInputError, match="dissection= takes a DissectionSettings"):
        evaluate(trained_model, synthetic_data, ["dissection"], num_samples=2, dissection={"quantile": 0.01})


def test_the_threat_model_is_resolved_once_from_the_models_training(trained_model, synthetic_data, monkeypatch):
    """``Analysis`` resolves ``(norm, ε)`` itself, once, from what is known of the model's training:
    its training radius in its own norm, the dataset's standard radius in another, a given ε first."""
    from lightning_pse.analysis.engine import Analysis
    from lightning_pse.attacks import presets

    calls = []
    real = presets.model_threat
    monkeypatch.setattr(presets, "model_threat", lambda *args: calls.append(args) or real(*args))
    trained = {"eps": 0.05, "norm": "linf"}

    def threat(**settings):
        analysis = Analysis(trained_model, synthetic_data, ["robustness"], num_samples=4, training=trained, **settings)
        return analysis.norm, analysis.eps

    assert threat() == ("linf", 0.05) and len(calls) == 1
    assert threat(norm="l2") == ("l2", 0.5)
    assert threat(eps=0.02) == ("linf", 0.02)
