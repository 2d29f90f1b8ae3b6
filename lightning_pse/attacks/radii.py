"""The threat-model radii, in pixels in [0, 1]: the one place they are written. ``standard_eps``
gives a dataset's usual radius for a norm (from its data module's ``stats_key``), ``REFERENCE_EPS``
the radius of each norm where a dataset has none of its own."""

from __future__ import annotations

# The radius of each norm where a dataset has no standard of its own, and the radius unbounded attacks
# are judged at outside their norm's threat model: CIFAR-10's (RobustBench's ℓ∞ 8/255 and ℓ2 0.5; ℓ1
# 12 as in Croce & Hein 2021). The one place these numbers are written.
REFERENCE_EPS: dict[str, float] = {"linf": 8 / 255, "l2": 0.5, "l1": 12.0}

# The ℓ∞ radius each dataset is usually evaluated at (in pixels in [0, 1]); the synthetic benchmark
# uses CIFAR's (our choice).
STANDARD_LINF_EPS: dict[str, float] = {
    "synthetic": 8 / 255,
    "cifar10": 8 / 255,
    "cifar100": 8 / 255,
    "svhn": 8 / 255,
    "mnist": 0.3,
    "fashion_mnist": 0.1,
    "imagenet": 4 / 255,
}


# The ℓ1 radius: 10 on MNIST and 12 on CIFAR-10 (Maini et al. 2020; 12 also Croce & Hein 2021); our
# choice: MNIST's for Fashion-MNIST, CIFAR-10's for everything else.
STANDARD_L1_EPS: dict[str, float] = {"mnist": 10.0, "fashion_mnist": 10.0}


def standard_eps(datamodule, norm: str) -> float:
    """The usual attack radius on ``datamodule``'s dataset (its ``stats_key``): ``STANDARD_LINF_EPS``
    for ℓ∞, ``STANDARD_L1_EPS`` for ℓ1, and ``REFERENCE_EPS`` for ℓ2 and for data without a standard."""
    standards = {"linf": STANDARD_LINF_EPS, "l1": STANDARD_L1_EPS}.get(norm, {})
    return standards.get(getattr(datamodule, "stats_key", None), REFERENCE_EPS[norm])


# RobustBench's radius of each (dataset, threat model) it ranks: its ℓ∞ ones are the datasets'
# standard radii above; ℓ2 0.5 on CIFAR and 3.0 on ImageNet.
ROBUSTBENCH_EPS: dict[tuple[str, str], float] = {
    ("cifar10", "Linf"): STANDARD_LINF_EPS["cifar10"],
    ("cifar100", "Linf"): STANDARD_LINF_EPS["cifar100"],
    ("imagenet", "Linf"): STANDARD_LINF_EPS["imagenet"],
    ("cifar10", "L2"): REFERENCE_EPS["l2"],
    ("cifar100", "L2"): REFERENCE_EPS["l2"],
    ("imagenet", "L2"): 3.0,
}
