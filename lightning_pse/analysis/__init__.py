"""Checkpoint analysis for ``analyze.py``: robustness, PSE and CAM sections over a probe set, written
as ``report.json`` and a self-contained ``report.html``."""
