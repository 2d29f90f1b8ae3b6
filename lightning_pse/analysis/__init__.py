"""Model analysis for ``analyze.py`` and Python: ``evaluate(model, data, sections=..., layer=...)``
runs the robustness, PSE, CAM, dissection and masking sections over a probe set (``engine``);
``analyze.py`` writes them as ``report.json`` and a self-contained ``report.html`` (``cli``);
``report_schema()`` is report.json's JSON Schema, assembled from the sections'."""

from .engine import Analysis, evaluate
from .registry import report_schema

__all__ = ["Analysis", "evaluate", "report_schema"]
