"""The JSON Schema of report.json, shipped in the package (``docs/report.md`` describes the fields).

``REPORT_SCHEMA_VERSION`` is written into every report as ``schema_version``; ``report_schema()``
returns the schema as a dict (validate with any JSON Schema 2020-12 validator, e.g. ``jsonschema``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

REPORT_SCHEMA_VERSION = 2  # 2: attacks nested under ``attacks`` in pse/cam, one interval key ``ci95``


@cache
def report_schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("report.schema.json").read_text(encoding="utf-8"))


VALIDATE_ENV = "LIGHTNING_PSE_VALIDATE_REPORTS"


def check_report(report: dict) -> None:
    """Validate ``report`` against the schema when the environment sets ``LIGHTNING_PSE_VALIDATE_REPORTS=1``
    (the test suite does, so every report its runs write is checked; needs ``jsonschema``, a dev extra)."""
    import os

    if os.environ.get(VALIDATE_ENV) != "1":
        return
    import jsonschema

    jsonschema.validate(report, report_schema())
