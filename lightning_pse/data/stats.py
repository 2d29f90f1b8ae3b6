"""Per-dataset normalisation statistics (per-channel mean and std of the training pixels in [0, 1])."""

DATASET_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

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
