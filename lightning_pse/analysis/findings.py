"""The report's ``findings`` block (``docs/method.md`` §7): each section's findings rule applied to
the report (``Section.findings``: the PSE section's finding (i) and ground truth, the CAM section's
(ii), the dissection's (iii), each entry with its effect, 95 % interval, sample size, minimum and
verdict, never written by hand), and the sentences a reader needs beside them: the analysis's own
(a quick run, a randomized model, gathered images) and the sections' (``Section.notes``).
"""

from __future__ import annotations

from .registry import REGISTRY


def notes(report: dict) -> list[str]:
    """Plain sentences a reader needs beside the findings: a quick run, a randomized model (attacked
    with EOT), gathered images, then each section's (an attack that fooled nothing, say)."""
    sections = [line for entry in REGISTRY.values() for line in entry.section.notes(report)]
    return quick_note(report) + randomized_note(report) + gathered_note(report) + sections


def quick_note(report: dict) -> list[str]:
    """The sentence saying a quick run's numbers are not to be quoted (none for a full analysis)."""
    if not report.get("settings", {}).get("quick"):
        return []
    return [
        f"Quick run: {report['num_samples']} images, the robustness and sensitivity attacks at their smallest "
        "budget. It checks that every section runs; its numbers are not to be quoted (run without --quick for those)."
    ]


def gathered_note(report: dict) -> list[str]:
    """The sentence saying how many probe images it took to gather the fooled images asked for (none
    when the probe set as asked already held enough)."""
    gathered = report.get("gathered")
    if not gathered or (gathered["images"] == gathered["initial"] and not gathered["exhausted"]):
        return []
    fooled = f"{gathered['attack']} fooled {gathered['fooled']} inside the threat model (asked: {gathered['asked']})"
    scope = (
        f"the sections that judge fooled images (PSE, CAM) see all of them, the others the "
        f"{gathered['initial']} images asked for"
    )
    if not gathered["exhausted"]:
        return [f"The probe set grew to {gathered['images']} images so that {fooled}; {scope}."]
    return [f"On all {gathered['images']} images of the split {fooled}: the split ran out first; {scope}."]


def randomized_note(report: dict) -> list[str]:
    """The sentence saying the model is randomized and how it was attacked (none for a deterministic model)."""
    if not report.get("randomized"):
        return []
    settings = report.get("settings", {})
    version = settings.get("autoattack_version")
    return [
        "The model is randomized (two forward passes of the same images gave different outputs): our attacks "
        f"averaged {settings.get('eot_samples')} forward passes per gradient (EOT)"
        + (f" and AutoAttack ran its {version} version" if version else "")
        + "; robust accuracies of a randomized model vary from run to run."
    ]


def findings(report: dict) -> dict:
    """The ``findings`` block of a report: the findings of each section whose block it holds (only
    attacks inside the report's threat model carry verdicts), and ``notes``."""
    threat = (report["norm"], float(report["eps"])) if report.get("eps") is not None and "norm" in report else None
    out = {}
    for entry in REGISTRY.values():
        out.update(entry.section.findings(report, threat))
    out["notes"] = notes(report)
    return out
