"""Per-epoch analysis callbacks on a fixed, DDP-sharded probe set (``ProbeCallback``)."""

from .cam import CAMCallback
from .dissection import DissectionCallback
from .probe import ProbeBatch, ProbeCallback
from .pse import PSECallback, default_pse_attacks
from .records import Records
from .robust_eval import RobustEvalCallback

__all__ = ["CAMCallback", "DissectionCallback", "PSECallback", "ProbeBatch", "ProbeCallback", "Records", "RobustEvalCallback", "default_pse_attacks"]
