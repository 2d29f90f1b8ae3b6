"""Model analysis for ``analyze.py`` and Python: ``evaluate(model, data, sections=..., layer=...)``
runs the robustness, PSE, CAM, dissection and masking sections over a probe set (``engine``);
``analyze.py`` writes them as ``report.json`` and a self-contained ``report.html`` (``cli``)."""

from .engine import Analysis, evaluate

__all__ = ["Analysis", "evaluate"]
