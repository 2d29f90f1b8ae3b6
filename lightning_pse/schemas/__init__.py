"""The core of report.json's JSON Schema, shipped in the package (``docs/report.md`` describes the
fields): the report's own keys and the definitions every section shares. The whole schema is
assembled from it and the sections' fragments by ``lightning_pse.analysis.report_schema()``
(validate with any JSON Schema 2020-12 validator, e.g. ``jsonschema``).

``REPORT_SCHEMA_VERSION`` is written into every report as ``schema_version``; ``report_json()`` is
the text of report.json: standard JSON, so a value that could not be computed (a NaN interval, an
infinite score) is ``null`` there.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources

REPORT_SCHEMA_VERSION = (
    4  # 4: robustness order (cascade rows count robust after each stage), attacked/broke/seconds;
    # 3: worst case over every attack, AutoAttack included; type presence; 2: pse/cam attacks nested
)


@cache
def core_schema() -> dict:
    """The report's own keys and the shared definitions (``core.schema.json``); do not modify the
    returned dict (it is cached)."""
    return json.loads(resources.files(__package__).joinpath("core.schema.json").read_text(encoding="utf-8"))


VALIDATE_ENV = "LIGHTNING_PSE_VALIDATE_REPORTS"


def finite_or_null(value):
    """``value`` with every NaN or infinite float (in nested dicts, lists and tuples) replaced by ``None``:
    JSON (RFC 8259) has no NaN or ∞, and ``JSON.parse`` refuses Python's ``NaN``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def report_json(report: dict) -> str:
    """The text of report.json: ``report`` as standard JSON (``finite_or_null``), indented."""
    return json.dumps(finite_or_null(report), indent=2, allow_nan=False)


def check_report(report: dict, schema: dict) -> None:
    """Validate ``report`` as report.json holds it (``finite_or_null``) against ``schema`` (the
    assembled report schema) when the environment sets ``LIGHTNING_PSE_VALIDATE_REPORTS=1`` (the test
    suite does, so every report its runs write is checked; needs ``jsonschema``, a dev extra)."""
    import os

    if os.environ.get(VALIDATE_ENV) != "1":
        return
    import jsonschema

    jsonschema.validate(finite_or_null(report), schema)
