"""The analysis sections by name: ``REGISTRY[name]`` gives the section class, how an ``Analysis``
builds it, what it checks before any work, and the dataclass of its settings (``--<name>.KEY``).

``analyze.py``'s parser, ``Analysis.build_sections``, the report schema, the findings, the page, the
terminal summary and the comparison of checkpoints all walk this registry and ask each section
what it owns (``sections.base.Section``), so a new section is one section class and one
``register`` call, and a new metric of a section touches the section's file only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from ..cam.settings import CAMSettings
from ..dissect import DissectionSettings
from ..output.html import render
from ..pse import PSESettings
from ..schemas import core_schema
from ..sections import CAMSection, DissectionSection, MaskingSection, PSESection, RobustnessSection, Section
from .prerequisites import prepare_cam, prepare_dissection, prepare_masking, prepare_pse, prepare_robustness


@dataclass(frozen=True)
class SectionEntry:
    """A section: its class; ``build(analysis)`` (an ``engine.Analysis``, whose settings it reads);
    ``prepare(analysis)``, its prerequisites checked when the analysis is built, before any work
    (``prerequisites``); and the dataclass of its settings, whose fields are ``analyze.py``'s
    ``--<name>.KEY`` options and ``Analysis``'s ``<name>=`` argument (None: it has none of its own)."""

    section: type[Section]
    build: Callable[..., Section]
    prepare: Callable[..., None] | None = field(default=None)
    settings: type | None = field(default=None)


def _robustness(a) -> Section:
    return RobustnessSection(a.attacks, a.norm, a.eps, autoattack=a.autoattack_version, seed=a.seed)


def _pse(a) -> Section:
    return PSESection(a.pse_attacks, a.pse, seed=a.seed)


def _cam(a) -> Section:
    return CAMSection(a.pse_attacks, a.cam, a.pse, guided=True, seed=a.seed)


def _dissection(a) -> Section:
    return DissectionSection(a.concepts, a.dissection_layer, a.sensitivity_attack, a.dissection, seed=a.seed)


def _masking(a) -> Section:
    ranking = [(b.x, b.y) for b in a.batches(a.ranking_probe)]
    return MaskingSection(
        ranking,
        f"units ranked on {len(a.ranking_probe)} {a.ranking_split} images",
        a.dissection_layer,
        a.sensitivity_attack,
        a.dissection.fractions,
    )


REGISTRY: dict[str, SectionEntry] = {
    "robustness": SectionEntry(RobustnessSection, _robustness, prepare_robustness),
    "pse": SectionEntry(PSESection, _pse, prepare_pse, PSESettings),
    "cam": SectionEntry(CAMSection, _cam, prepare_cam, CAMSettings),
    "dissection": SectionEntry(DissectionSection, _dissection, prepare_dissection, DissectionSettings),
    "masking": SectionEntry(MaskingSection, _masking, prepare_masking),
}
SECTIONS = tuple(REGISTRY)  # the built-in sections, in the report's order


def register(name: str, entry: SectionEntry) -> None:
    """Add a section under ``name`` (after the others in report order): ``analyze.py``'s sections,
    the report schema, the findings, the page, the summary and comparisons then include it."""
    if name in REGISTRY:
        raise ValueError(f"a section named {name!r} is already registered")
    REGISTRY[name] = entry


def report_schema() -> dict:
    """The JSON Schema of report.json: the report's own keys and shared definitions
    (``schemas.core_schema``) with each registered section's keys, findings and definitions
    (``Section.report_schema``). Two sections may not claim the same key."""
    schema = copy.deepcopy(core_schema())
    findings = schema["properties"]["findings"]["properties"]
    for name, entry in REGISTRY.items():
        fragment = entry.section.report_schema
        for part, target in (("properties", schema["properties"]), ("findings", findings), ("$defs", schema["$defs"])):
            taken = set(fragment.get(part, {})) & set(target)
            if taken:
                raise ValueError(f"section {name!r} claims report schema {part} already taken: {sorted(taken)}")
            target.update(copy.deepcopy(fragment.get(part, {})))
    return schema


def finding_rows(findings: dict) -> list[list]:
    """The findings table's rows ``[claim, effect, interval, n, minimum n, verdict]``, section by
    section (``Section.finding_rows``); shared by the page and the terminal."""
    return [row for entry in REGISTRY.values() for row in entry.section.finding_rows(findings)]


def page(report: dict, figures: dict[str, bytes]) -> str:
    """report.html: the header and findings, then each section's own block, in report order."""
    blocks = [block for name in report["sections"] for block in REGISTRY[name].section.html(report, figures)]
    return render(report, figures, blocks, finding_rows(report.get("findings", {})))


def summary(report: dict) -> str:
    """The terminal summary: each section's lines, then the findings' notes and verdicts."""
    lines = [line for name in report["sections"] for line in REGISTRY[name].section.summary(report)]
    findings = report.get("findings", {})
    lines.extend(findings.get("notes", []))
    for claim, effect, interval, n, _, verdict in finding_rows(findings):
        shown = effect if isinstance(effect, str) else "—" if effect is None else f"{effect:.3f}"
        lines.append(f"finding: {claim}: {shown} {interval} (n = {n}): {verdict}")
    return "\n".join(lines)
