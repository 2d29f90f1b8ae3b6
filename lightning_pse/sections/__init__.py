"""Sections: one object per analysis level, shared by the per-epoch callbacks and ``analyze.py``.

Each section (``base.Section``) keeps its numbers in torchmetrics states (DDP-synced), takes probe
batches in ``update``, returns its report entries in ``compute`` and its per-epoch scalars, figures
and tables from them. Attacks run once per probe batch however many sections use them
(``base.AttackRuns``). Levels: ``RobustnessSection``, ``PSESection``, ``CAMSection``,
``DissectionSection`` and ``MaskingSection`` (``docs/method.md`` §1–§3).
"""

from .base import AttackRuns, ProbeBatch, Section
from .cam import CAMSection
from .network import DissectionSection, MaskingSection
from .pse import PSESection
from .records import Records
from .robustness import RobustnessSection

__all__ = [
    "AttackRuns",
    "CAMSection",
    "DissectionSection",
    "MaskingSection",
    "PSESection",
    "ProbeBatch",
    "Records",
    "RobustnessSection",
    "Section",
]
