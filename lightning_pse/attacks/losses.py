"""Per-sample attack objectives on logits ``[B, K]``; every function returns ``[B]``.

Attacks *maximise* the objective returned by ``objective(name, targeted)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from ..errors import UnknownNameError, UserInputError

LOSSES = ("ce", "cw", "dlr")


def other_max(logits: Tensor, label: Tensor) -> Tensor:
    """``max_{j ≠ label} Z_j`` ``[B]``."""
    return logits.scatter(1, label[:, None], float("-inf")).amax(dim=1)


def margin(logits: Tensor, label: Tensor) -> Tensor:
    """``Z_label − max_{j ≠ label} Z_j`` ``[B]``: positive when ``label`` is predicted."""
    return logits.gather(1, label[:, None]).squeeze(1) - other_max(logits, label)


def dlr(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of Logits Ratio (Croce & Hein 2020), untargeted:
    ``−(Z_y − max_{j≠y} Z_j) / (z_π1 − z_π3 + 1e-12)``, ``z_π`` the logits sorted descending.
    """
    check_dlr_classes(logits.shape[1])
    top = logits.topk(3, dim=1).values
    return -margin(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    """Targeted DLR: ``−(Z_y − Z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)``."""
    check_dlr_classes(logits.shape[1])
    top = logits.topk(4, dim=1).values
    gap = logits.gather(1, y[:, None]).squeeze(1) - logits.gather(1, target[:, None]).squeeze(1)
    return -gap / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def objective(name: str | Callable, targeted: bool) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    """The per-sample objective ``f(logits, y, target) -> [B]`` an attack maximises.

    - ``ce``: untargeted ``CE(Z, y)``; targeted ``−CE(Z, t)``.
    - ``cw``: untargeted ``max_{j≠y} Z_j − Z_y``; targeted ``Z_t − max_{j≠t} Z_j`` (C&W margin).
    - ``dlr``: untargeted DLR; targeted DLR-T. Needs at least 4 classes.
    - a callable ``f(logits, y, target)`` is returned as it is.
    """
    if callable(name):
        return name
    if name not in LOSSES:
        raise UnknownNameError(f"unknown attack loss {name!r}; choose one of {', '.join(LOSSES)}")
    return OBJECTIVES[name, targeted]


def ce_untargeted(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def ce_targeted(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    return -F.cross_entropy(logits, target, reduction="none")


def cw_untargeted(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    return -margin(logits, y)


def cw_targeted(logits: Tensor, y: Tensor, target: Tensor) -> Tensor:
    return margin(logits, target)


def dlr_untargeted(logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    return dlr(logits, y)


# (name, targeted) → f(logits, y, target): module-level functions, so attacks pickle (an analysis
# spread over processes sends them to each).
OBJECTIVES = {
    ("ce", False): ce_untargeted,
    ("ce", True): ce_targeted,
    ("cw", False): cw_untargeted,
    ("cw", True): cw_targeted,
    ("dlr", False): dlr_untargeted,
    ("dlr", True): dlr_targeted,
}


def check_dlr_classes(num_classes: int) -> None:
    if num_classes < 4:
        raise UserInputError(
            f"the DLR loss needs at least 4 classes (it uses the 3rd and 4th largest logits), the model "
            f"has {num_classes}: use loss='ce' or loss='cw'"
        )


def success(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """``[B]`` bool: the prediction is the target (targeted) or differs from ``y`` (untargeted)."""
    pred = logits.argmax(dim=1)
    return pred == target if target is not None else pred != y


def attack_margin(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """Signed distance to success ``[B]``, negative once the attack succeeds:
    untargeted ``Z_y − max_{j≠y} Z_j``, targeted ``max_{j≠t} Z_j − Z_t``.
    """
    return -margin(logits, target) if target is not None else margin(logits, y)


__all__ = [
    "LOSSES",
    "attack_margin",
    "check_dlr_classes",
    "dlr",
    "dlr_targeted",
    "margin",
    "objective",
    "other_max",
    "success",
]
