"""Every default attack of the project, in one place.

The callbacks, ``analyze.py`` and the benchmarks take their default attacks from these functions,
so a default is defined once and a change here changes every place that measures with it. Each
preset takes the threat model (``eps``, ``norm``) and the seed; the budgets (steps, restarts,
queries) are the project's CPU-affordable choices (``docs/method.md`` §6 lists them).

=====================  ==========================================================================
preset                 attack
=====================  ==========================================================================
``robust_eval``        PGD-20, step ε/4, random start, early stop (robust accuracy per epoch)
``pse_targeted``       targeted PGD-20 (step 2.5·ε/20, target by ``target_rule``): PSE and CAM
``pse_cw``             untargeted C&W ℓ2, 5 binary-search × 100 Adam steps: PSE
``pse_attacks``        ``{"pgd": pse_targeted, "cw": pse_cw}``: the PSE callback and report
``cam_attacks``        ``{"pgd": pse_targeted}``: the CAM callback (C&W left out for cost)
``sensitivity``        PGD-10, step ε/4: unit sensitivity ``s_k`` and the masking curve
``ground_truth``       targeted PGD-20 at ℓ∞ 16/255 toward the distractor's class (synthetic data)
``autoattack_like``    PGD-20, APGD-CE, APGD-T (DLR, ≥ 4 classes), C&W ℓ2, Square (ℓ∞, ℓ2) or
                       EAD (ℓ1), each on every sample: the report's robustness section
``cascade``            APGD-CE, APGD-T (one target), Square-100, then near the boundary APGD-T
                       toward every class for 10 steps and APGD restarts from output-diversified
                       starts, as a ``Cascade``: ``--robustness cascade``
=====================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from .apgd import APGD
from .base import Attack
from .cascade import Cascade
from .cw import CW
from .ead import EAD
from .pgd import PGD
from .radii import REFERENCE_EPS, standard_eps
from .square import Square

DEFAULT_EPS = REFERENCE_EPS["linf"]  # ℓ∞ radius of the per-epoch callbacks when a config names none
GROUND_TRUTH_EPS = 16 / 255  # larger than 8/255 so that most synthetic images are fooled toward the distractor


def pgd20(eps: float = DEFAULT_EPS, norm: str = "linf", seed: int = 0) -> PGD:
    """PGD-20 at radius ``eps`` of ``norm``, step ``eps/4``, random start, stopping on each sample at
    its first adversarial point (fooled samples cost no more steps; robust accuracy cannot rise)."""
    return PGD(eps=eps, steps=20, step_size=eps / 4, norm=norm, early_stop=True, seed=seed)


def robust_eval(eps: float = DEFAULT_EPS, norm: str = "linf", seed: int = 0) -> Attack:
    """The per-epoch attack of ``RobustEvalCallback``: ``pgd20``, except at ℓ1, where it is APGD-CE with
    20 steps (APGD-ℓ1's schedule, the same number of gradients): fixed-sparsity PGD is much weaker at
    ℓ1 and would overstate robustness (on the Fashion-MNIST fast-AT model at ε 10, 41 of 64 images
    left robust by PGD-20 against 33 by APGD-ℓ1-20; benchmarks/README.md, "ℓ1")."""
    if norm == "l1":
        return APGD(eps=eps, steps=20, norm=norm, loss="ce", seed=seed)
    return pgd20(eps, norm, seed)


def pse_targeted(eps: float = DEFAULT_EPS, target_rule: str = "random", seed: int = 0, norm: str = "linf") -> PGD:
    """Targeted PGD-20 at radius ``eps`` of ``norm`` (step ``2.5·eps/20``), the target chosen by ``target_rule``."""
    return PGD(eps=eps, steps=20, norm=norm, targeted=True, target_rule=target_rule, seed=seed)


def pse_cw(seed: int = 0) -> CW:
    """Untargeted C&W ℓ2: 5 binary-search steps × 100 Adam steps (fewer than C&W's own 9 × 10 000,
    to fit in an epoch)."""
    return CW(steps=100, binary_search_steps=5, seed=seed)


def pse_attacks(
    eps: float = DEFAULT_EPS, target_rule: str = "random", seed: int = 0, norm: str = "linf"
) -> dict[str, Attack]:
    """The PSE section's attacks: ``pgd`` (``pse_targeted``) and ``cw`` (``pse_cw``)."""
    return {"pgd": pse_targeted(eps, target_rule, seed, norm), "cw": pse_cw(seed)}


def cam_attacks(
    eps: float = DEFAULT_EPS, target_rule: str = "random", seed: int = 0, norm: str = "linf"
) -> dict[str, Attack]:
    """The CAM callback's attacks: ``pgd`` (``pse_targeted``) alone. Equal settings to the PSE
    callback's ``pgd``, so the two callbacks share one attack run per probe batch."""
    return {"pgd": pse_targeted(eps, target_rule, seed, norm)}


def model_threat(training: Mapping, datamodule, norm: str | None = None, eps: float | None = None) -> tuple[str, float]:
    """``(norm, ε)`` an analysis attacks at — the one resolver of the callbacks, ``analyze.py`` and
    ``evaluate()``: ``norm`` and ``eps`` where given (zero is a value), else the training radius
    (``training``: the hyper-parameters of an adversarial-training module, or what is known of a
    model's training, with ``eps`` and ``norm``) when it was trained in that norm, else the dataset's
    standard radius for the norm (``radii.standard_eps``: ℓ∞ 8/255 for CIFAR and the synthetic
    benchmark, 0.3 for MNIST, 0.1 for Fashion-MNIST; ℓ2 0.5)."""
    trained_norm = training.get("norm") or "linf"
    norm = norm or trained_norm
    if eps is not None:
        return norm, float(eps)
    if training.get("eps") is not None and trained_norm == norm:
        return norm, float(training["eps"])
    return norm, standard_eps(datamodule, norm)


def sensitivity(eps: float = DEFAULT_EPS, norm: str = "linf", seed: int = 0) -> PGD:
    """PGD-10 at radius ``eps`` of ``norm``, step ``eps/4``: the attack behind the unit sensitivity
    ``s_k`` and the masking curve."""
    return PGD(eps=eps, steps=10, step_size=eps / 4, norm=norm, seed=seed)


def ground_truth(seed: int = 0) -> PGD:
    """Targeted ℓ∞ PGD-20 at ``GROUND_TRUTH_EPS``; the caller gives the distractor's class as target."""
    return PGD(eps=GROUND_TRUTH_EPS, steps=20, targeted=True, seed=seed)


def unbounded_radius(attack_norm: str, norm: str, eps: float) -> float:
    """The radius, in the norm ``attack_norm`` it minimises, within which an unbounded attack (C&W ℓ2,
    EAD ℓ1) counts as a success: ε when that is the threat model's norm ``norm``, else the norm's
    reference radius (``radii.REFERENCE_EPS``: C&W within ℓ2 0.5, EAD within ℓ1 12)."""
    return eps if attack_norm == norm else REFERENCE_EPS[attack_norm]


def ead_l1(seed: int = 0) -> EAD:
    """Untargeted EAD (minimal ℓ1): 5 binary-search × 100 FISTA steps, the budget of ``pse_cw``
    (Chen et al. use 9 × 1000), searching from ``c = 1`` rather than Chen et al.'s 1e-3 (our choice:
    with 5 searches, 1e-3 reaches too few successful constants; on Fashion-MNIST the two differ by
    less than their intervals, benchmarks/README.md, "ℓ1")."""
    return EAD(steps=100, binary_search_steps=5, initial_const=1.0, seed=seed)


def autoattack_like(
    eps: float, num_classes: int, norm: str = "linf", seed: int = 0, square_queries: int = 1000
) -> dict[str, Attack]:
    """PGD-20 (``pgd20``), APGD-CE, APGD-T (DLR, needs ≥ 4 classes), C&W ℓ2 and Square at radius
    ``eps`` of ``norm``; under ℓ1 also EAD (``ead_l1``, minimal ℓ1, judged at ε), APGD runs APGD-ℓ1's
    schedule (APGD-CE with 5 restarts, as AutoAttack's ℓ1 version) and Square Square-ℓ1's. C&W
    is ``pse_cw`` (5 × 100 steps, minimal ℓ2, judged broken within ``unbounded_radius``), the same
    attack as the PSE section's, so an analysis with both sections runs it once per batch; Square
    runs ``square_queries`` queries (fewer than the papers' defaults, to fit CPU budgets; raise
    them in ``--config``). PGD and APGD stop working on a sample at its first
    adversarial point, which can only lower robust accuracy and saves most of the work on weak models."""
    attacks: dict[str, Attack] = {
        "pgd20": pgd20(eps, norm, seed),
        # AutoAttack's standard version restarts APGD-CE 5 times at ℓ1 (once at ℓ∞ and ℓ2).
        "apgd_ce": APGD(eps=eps, loss="ce", norm=norm, restarts=5 if norm == "l1" else 1, seed=seed),
    }
    if num_classes >= 4:
        attacks["apgd_t"] = APGD(
            eps=eps, loss="dlr", norm=norm, targeted=True, n_target_classes=min(9, num_classes - 1), seed=seed
        )
    attacks["cw_l2"] = pse_cw(seed)  # the PSE section's C&W: one run per batch serves both sections
    if norm == "l1":
        attacks["ead_l1"] = ead_l1(seed)
    attacks["square"] = Square(eps=eps, norm=norm, n_queries=square_queries, seed=seed)
    return attacks


def cascade(eps: float, num_classes: int, norm: str = "linf", seed: int = 0) -> Cascade:
    """``--robustness cascade`` (not yet the default, #44), each stage on the samples every earlier one
    left robust: APGD-CE (``autoattack_like``'s), APGD-T on the most likely other class (≥ 4 classes),
    the minimal-norm attack judged in the threat model (C&W ℓ2 under ℓ2, EAD under ℓ1), Square with
    ``CASCADE_SQUARE_QUERIES`` queries (the black-box check behind the gradient-masking flag); then,
    with ≥ 4 classes and on the samples within a ``cascade.boundary_margin`` gate (each sample's
    closest point so far): APGD-T toward every other class (at most 9, AutoAttack's) for
    ``PROBE_STEPS`` steps within ``PROBE``, and APGD from output-diversified starts (``odi_steps`` 2,
    not at ℓ1), with the untargeted DLR loss ``NEAR_RESTARTS`` restarts within ``NEAR``, then with
    the cross-entropy and with DLR ``CLOSE_RESTARTS`` restarts each within ``CLOSE``. All of it
    **our choice**, from AutoAttack's per-sample breaks on the models of benchmarks/README.md ("A
    tenth of AutoAttack's cost"): the breaks the cheap stages leave are targeted ones toward a
    class other than the runner-up, or need restarts where a sample is nearly broken."""
    full_set = autoattack_like(eps, num_classes, norm, seed)
    stages: dict[str, Attack] = {"apgd_ce": full_set["apgd_ce"]}
    near = {}
    if num_classes >= 4:
        stages["apgd_t"] = APGD(eps=eps, loss="dlr", norm=norm, targeted=True, n_target_classes=1, seed=seed)
    for name in ("cw_l2", "ead_l1"):  # the minimal-norm attack of the threat model's norm, judged at ε
        if name in full_set and full_set[name].norm == norm:
            stages[name] = full_set[name]
    stages["square"] = Square(eps=eps, norm=norm, n_queries=CASCADE_SQUARE_QUERIES, seed=seed)
    if num_classes >= 4:
        stages["apgd_t_probe"] = APGD(
            eps=eps,
            loss="dlr",
            norm=norm,
            targeted=True,
            n_target_classes=min(9, num_classes - 1),
            steps=PROBE_STEPS,
            seed=seed + 4,
        )
        near["apgd_t_probe"] = PROBE
        odi_steps = 0 if norm == "l1" else 2
        tiers = (
            ("apgd_dlr_near", "dlr", NEAR, NEAR_RESTARTS),
            ("apgd_ce_close", "ce", CLOSE, CLOSE_RESTARTS),
            ("apgd_dlr_close", "dlr", CLOSE, CLOSE_RESTARTS),
        )
        for offset, (name, loss, threshold, restarts) in enumerate(tiers, start=1):
            # Each tier its own seed: a later tier draws starts the earlier ones did not try.
            stages[name] = APGD(
                eps=eps, loss=loss, norm=norm, odi_steps=odi_steps, restarts=restarts, seed=seed + offset
            )
            near[name] = threshold
    return Cascade(stages, near)


# The cascade's gates, in boundary margin (0 on the boundary, 1 at the farthest), and their budgets.
PROBE, PROBE_STEPS = 0.5, 10
NEAR, NEAR_RESTARTS = 0.4, 1
CLOSE, CLOSE_RESTARTS = 0.15, 4
CASCADE_SQUARE_QUERIES = 100

# How ``analyze.py --robustness`` measures robust accuracy (``robustness_attacks``).
ROBUSTNESS_MODES = ("attacks", "cascade", "autoattack")


def robustness_attacks(
    mode: str, attacks: Mapping[str, Attack] | None, eps: float, num_classes: int, norm: str, seed: int
) -> Mapping[str, Attack]:
    """The robustness section's attacks for ``mode``: ``attacks`` and ``autoattack`` run every attack
    on every sample (``autoattack_like``, or the given ``attacks``; a given ``Cascade`` stays one),
    ``cascade`` a ``Cascade`` (``cascade``, or the given ``attacks`` in their order)."""
    if mode != "cascade":
        return attacks if attacks is not None else autoattack_like(eps, num_classes, norm, seed)
    if attacks is None:
        return cascade(eps, num_classes, norm, seed)
    return attacks if isinstance(attacks, Cascade) else Cascade(attacks)
