"""Per-epoch analysis callbacks on a fixed, DDP-sharded probe set (``ProbeCallback``)."""

from .probe import ProbeBatch, ProbeCallback
from .pse import PSECallback, default_pse_attacks
from .records import Records

__all__ = ["PSECallback", "ProbeBatch", "ProbeCallback", "Records", "default_pse_attacks"]
