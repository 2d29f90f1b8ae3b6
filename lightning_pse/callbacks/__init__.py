"""Per-epoch analysis callbacks on a fixed, DDP-sharded probe set (``ProbeCallback``): each one
schedules the sections of ``lightning_pse.sections`` and logs what they compute."""

from .cam import CAMCallback
from .checkpoint import BestCheckpoint, StopCheckpoint
from .dissection import DissectionCallback
from .pse import PSECallback
from .robust_eval import RobustEvalCallback
from .schedule import ProbeCallback
from .section import SectionCallback

__all__ = [
    "BestCheckpoint",
    "CAMCallback",
    "DissectionCallback",
    "PSECallback",
    "ProbeCallback",
    "RobustEvalCallback",
    "SectionCallback",
    "StopCheckpoint",
]
