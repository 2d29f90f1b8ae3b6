"""One metric, one room: a section defined in this file alone, once registered, appears in report.json
(valid against the assembled schema), its findings, the page, the terminal summary and a comparison
of two checkpoints; no other file knows its keys."""

import copy

import jsonschema
import pytest
from torchmetrics import SumMetric

from lightning_pse.analysis import evaluate, report_schema
from lightning_pse.analysis.compare import compare
from lightning_pse.analysis.registry import REGISTRY, SectionEntry, page, register, summary
from lightning_pse.output.html import keyed_table, render_comparison
from lightning_pse.sections import Section
from lightning_pse.sections.base import Cell, Column
from lightning_pse.sections.verdicts import finding_row, judged, requirement
from lightning_pse.stats import wilson_interval

MIN_IMAGES = 4


class Brightness(Section):
    """The share of probe images brighter than mid-grey (mean pixel above 0.5), and a claim about
    it: bright images are a minority (0.5 − share > 0)."""

    name = "brightness"
    report_schema = {
        "properties": {
            "brightness": {
                "type": "object",
                "required": ["bright", "n"],
                "additionalProperties": False,
                "properties": {"bright": {"type": "integer", "minimum": 0}, "n": {"type": "integer", "minimum": 0}},
            }
        },
        "findings": {"bright_minority": {"$ref": "#/$defs/finding"}},
    }
    comparison_columns = {"bright_share": Column("bright images", "share of images brighter than mid-grey")}

    def __init__(self) -> None:
        super().__init__()
        self.bright = self.add_metric(SumMetric())
        self.n = self.add_metric(SumMetric())

    def update(self, model, batch, runs) -> None:
        self.bright.update(float((batch.x.flatten(1).mean(dim=1) > 0.5).sum()))
        self.n.update(float(len(batch)))

    def compute(self, model=None, rank: int = 0, world_size: int = 1) -> dict:
        return {"brightness": {"bright": int(self.bright.compute()), "n": int(self.n.compute())}}

    @classmethod
    def html(cls, report: dict, figures: dict) -> list[str]:
        return ["<h2>Brightness</h2>" + keyed_table({"bright": "bright images", "n": "images"}, [report["brightness"]])]

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        b = report["brightness"]
        return [f"brightness: {b['bright']} of {b['n']} images brighter than mid-grey"]

    @classmethod
    def findings(cls, report: dict, threat) -> dict:
        if "brightness" not in report:
            return {}
        b = report["brightness"]
        low, high = wilson_interval(b["bright"], b["n"])
        effect = 0.5 - b["bright"] / b["n"]
        claim = "bright images are a minority"
        return {
            "bright_minority": judged(
                claim, effect, [0.5 - high, 0.5 - low], b["n"], [requirement(b["n"], MIN_IMAGES, "images")]
            )
        }

    @classmethod
    def finding_rows(cls, findings: dict) -> list[list]:
        found = findings.get("bright_minority")
        return [finding_row(f"brightness: {found['claim']}", found)] if found else []

    @classmethod
    def comparison(cls, report: dict, attack) -> dict[str, Cell]:
        b = report.get("brightness")
        if b is None:
            return {"bright_share": Cell(None, 0, MIN_IMAGES)}
        share = b["bright"] / b["n"]
        return {"bright_share": Cell(share, b["n"], MIN_IMAGES, list(wilson_interval(b["bright"], b["n"])))}


@pytest.fixture
def registered():
    """The toy section registered for one test, then taken out again."""
    register("brightness", SectionEntry(Brightness, lambda analysis: Brightness()))
    yield
    del REGISTRY["brightness"]


def analysed(model, data, seed: int) -> dict:
    return evaluate(model, data, ["brightness"], num_samples=8, batch_size=4, seed=seed)


def test_a_section_in_one_file_reaches_every_output(registered, trained_model, synthetic_data):
    report = analysed(trained_model, synthetic_data, seed=0)
    b = report["brightness"]
    assert b["n"] == 8 and report["sections"] == ["brightness"]
    jsonschema.validate(report, report_schema())
    finding = report["findings"]["bright_minority"]
    assert finding["verdict"] in ("holds", "does not hold", "inconclusive") and finding["n"] == 8
    assert f"{b['bright']} of 8 images brighter" in summary(report)
    assert "finding: brightness: bright images are a minority" in summary(report)
    html = page(report, {})
    assert "<h2>Brightness</h2>" in html and "<th>bright images</th>" in html
    assert "<td>brightness: bright images are a minority</td>" in html

    other = analysed(trained_model, synthetic_data, seed=1)
    comparison = compare([("a", report), ("b", other)])
    assert comparison["columns"]["bright_share"] == "bright images"
    assert [row["bright_share"] for row in comparison["rows"]] == [
        r["brightness"]["bright"] / 8 for r in (report, other)
    ]
    assert comparison["rows"][0]["intervals"]["bright_share"] == list(wilson_interval(b["bright"], 8))
    assert comparison["correlations"]["bright_share"]["meaning"] == "share of images brighter than mid-grey"
    assert "<th>bright images</th>" in render_comparison(comparison, {})


def test_the_assembled_schema_holds_the_sections_fragments(registered, trained_model, synthetic_data):
    """A report with the toy section's finding fails a schema assembled without its fragment (the
    findings block admits only declared keys), and two sections may not claim one key."""
    report = analysed(trained_model, synthetic_data, seed=0)
    without = copy.deepcopy(report_schema())
    del without["properties"]["findings"]["properties"]["bright_minority"]
    with pytest.raises(jsonschema.ValidationError, match="bright_minority"):
        jsonschema.validate(report, without)
    bad = copy.deepcopy(report)
    bad["brightness"]["n"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, report_schema())

    class Clash(Brightness):
        name = "clash"

    REGISTRY["clash"] = SectionEntry(Clash, lambda analysis: Clash())
    try:
        with pytest.raises(
            ValueError, match="'clash' claims report schema properties already taken: \\['brightness'\\]"
        ):
            report_schema()
    finally:
        del REGISTRY["clash"]
    with pytest.raises(ValueError, match="already registered"):
        register("brightness", SectionEntry(Brightness, lambda analysis: Brightness()))
