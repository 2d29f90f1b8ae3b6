"""AutoAttack (Croce & Hein 2020) through the official code (``pyautoattack``, optional extra), run
without changing the model, in any of its versions (``AUTOATTACK_ATTACKS``): ``standard`` (the
leaderboards'), ``plus`` (more restarts and the untargeted FAB and DLR runs) and ``rand`` (for
randomized defenses: APGD-CE and APGD-DLR with 20 EOT samples per gradient), at ℓ∞, ℓ2 or ℓ1 (the
ℓ1 standard version is Croce & Hein 2021's: APGD-ℓ1 with 5 restarts and 5 target classes, FAB-ℓ1 and
Square-ℓ1)."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..errors import UserInputError
from ..models.passes import PassCount, counting_passes
from ..models.state import eval_mode
from ..progress import attack_task, step_done

AUTOATTACK_NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}
AUTOATTACK_ATTACKS = {  # what each version runs, in AutoAttack's order
    "standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
    "plus": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"],
    "rand": ["apgd-ce", "apgd-dlr"],
}


def check_autoattack(num_classes: int) -> None:
    """Refuse, before any work, what AutoAttack cannot run: the package missing, or fewer than
    4 classes (its DLR losses use the 3rd and 4th largest logits)."""
    try:
        import pyautoattack  # noqa: F401
    except ImportError:
        raise UserInputError(
            "--robustness autoattack needs the official AutoAttack code: "
            "pip install 'lightning_pse[zoo]' (package pyautoattack)"
        ) from None
    if num_classes < 4:
        raise UserInputError(
            f"AutoAttack needs at least 4 classes (DLR loss), the model has {num_classes}: use --robustness attacks"
        )


class _AttackFinished(logging.Handler):
    """Advances the progress bar when AutoAttack's log says one of its attacks finished."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("robust accuracy after"):
            step_done()


@contextmanager
def attack_by_attack_progress(attacks: list[str]):
    """A progress bar of AutoAttack's ``attacks``, advanced from its logger ("auto-attack", whose
    messages otherwise stay silent: they do not reach the root logger)."""
    logger = logging.getLogger("auto-attack")
    level, propagate, handler = logger.level, logger.propagate, _AttackFinished()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        with attack_task(f"AutoAttack ({', '.join(attacks)})", len(attacks)):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@contextmanager
def frozen_parameters(model: nn.Module):
    """Parameters need no gradient inside (FAB calls ``.backward``, which would fill ``.grad``);
    each one's ``requires_grad`` is restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def autoattack_robust(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str,
    seed: int = 0,
    version: str = "standard",
    attacks: list[str] | None = None,
) -> tuple[Tensor, PassCount]:
    """``([B] bool, passes)``: classified correctly on ``x`` and after AutoAttack's ``version`` at
    ``(norm, eps)``, and the forward and backward image-passes AutoAttack's run cost (counted on
    the model it calls, ``models.passes``). APGD-T and FAB-T aim at as many other classes as the version sets (9; APGD-T
    5 at ℓ1), at most the model's ``K − 1``. ``attacks``: a part of the version's attacks
    (``AUTOATTACK_ATTACKS``) to run alone, with the version's settings (default: all of them). The
    model runs in eval mode; its mode, BatchNorm statistics and ``.grad`` are untouched."""
    from pyautoattack import AutoAttack

    if version not in AUTOATTACK_ATTACKS:
        raise UserInputError(f"unknown AutoAttack version {version!r}; choose one of {', '.join(AUTOATTACK_ATTACKS)}")
    unknown = sorted(set(attacks or ()) - set(AUTOATTACK_ATTACKS[version]))
    if unknown:
        raise UserInputError(f"AutoAttack {version} runs no {', '.join(unknown)}: {AUTOATTACK_ATTACKS[version]}")
    with eval_mode(model), frozen_parameters(model):
        adversary = AutoAttack(model, norm=AUTOATTACK_NORMS[norm], eps=eps, version=version, device=x.device, seed=seed)
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        for targeted in (adversary.apgd_targeted, adversary.fab):
            targeted.n_target_classes = min(targeted.n_target_classes, num_classes - 1)
        if attacks is not None:
            adversary.attacks_to_run = list(attacks)
        with attack_by_attack_progress(adversary.attacks_to_run), counting_passes(model) as passes:
            _, predicted = adversary.run_standard_evaluation(x, y, batch_size=x.shape[0])
    return predicted.to(y.device) == y, passes
