"""Statistics behind every comparison and verdict (``docs/method.md`` §7): paired differences over
seeds, rank correlations with intervals, and the verdict rule. Plain floats in, plain floats out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as scipy_stats

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
INSUFFICIENT = "insufficient data"
OUTSIDE = "outside the threat model"  # an unbounded attack's rows: shown, never judged
VERDICTS = ("holds", "does not hold", "inconclusive", INSUFFICIENT, OUTSIDE)


def verdict(low: float, high: float, claimed: str = "positive") -> str:
    """The verdict rule: ``holds`` when the 95 % interval ``[low, high]`` of the effect lies entirely
    on the ``claimed`` side of zero (``positive`` or ``negative``), ``does not hold`` when it lies
    entirely on the other side, else ``inconclusive`` (also for a NaN bound)."""
    if claimed not in ("positive", "negative"):
        raise ValueError(f"claimed must be 'positive' or 'negative', got {claimed!r}")
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    above, below = low > 0, high < 0
    if claimed == "negative":
        above, below = below, above
    return "holds" if above else "does not hold" if below else "inconclusive"


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate ``successes / n``:
    ``(p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``; ``(0, 1)`` when ``n = 0``.

    Exact at the edges: 0 of n starts at exactly 0 and n of n ends at exactly 1 (the closed form's
    ``centre − half`` leaves about 1e-17 there by cancellation)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``n − 1``; NaN for one value)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, sd


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """``a − b`` paired by position (e.g. the same seed): ``{mean, sd, n, ci95}`` with the Student-t
    95 % interval ``mean ± t_{0.975, n−1}·sd/√n`` (NaN bounds for fewer than two pairs)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b)]
    mean, sd = mean_sd(differences)
    n = len(differences)
    half = scipy_stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    return {"mean": mean, "sd": sd, "n": n, "ci95": [mean - half, mean + half]}


def spearman_interval(rho: float, n: int) -> list[float]:
    """95 % interval of a Spearman ρ from ``n`` pairs by Fisher's z with the Bonett–Wright standard
    error ``sqrt((1 + ρ²/2)/(n − 3))``; ``[nan, nan]`` for ``n ≤ 3`` or a NaN ρ. The bounds stay in
    [−1, 1], and ρ = ±1 keeps its own bound exactly (``atanh`` is infinite there)."""
    if n <= 3 or math.isnan(rho):
        return [float("nan"), float("nan")]
    clipped = max(min(rho, 1 - 1e-12), -1 + 1e-12)
    z, se = math.atanh(clipped), math.sqrt((1 + clipped * clipped / 2) / (n - 3))
    low, high = math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)
    return [-1.0 if rho <= -1 else max(-1.0, low), 1.0 if rho >= 1 else min(1.0, high)]


def bootstrap_interval(statistic, columns: dict, resamples: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval of ``statistic(columns)`` over rows: ``columns`` maps names
    to equal-length 1-D tensors (one row per image, pairs kept together), resampled with replacement
    ``resamples`` times with a seeded generator; ``[nan, nan]`` for fewer than two rows."""
    import torch

    n = len(next(iter(columns.values())))
    if n < 2:
        return [float("nan"), float("nan")]
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, n, (resamples, n), generator=generator)
    values = torch.tensor([statistic({k: v[r] for k, v in columns.items()}) for r in rows], dtype=torch.float64)
    values = values[~values.isnan()]
    if not len(values):
        return [float("nan"), float("nan")]
    return [float(values.quantile(0.025)), float(values.quantile(0.975))]


EXACT_PERMUTATION_MAX_N = 9  # 9! = 362 880 orderings; above, a seeded Monte Carlo sample of them
MONTE_CARLO_PERMUTATIONS = 100_000


def spearman_permutation_p(x: Sequence[float], y: Sequence[float], seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's ρ of paired ``x``, ``y`` (average ranks for ties):
    the share of orderings of ``y`` whose ``|ρ|`` is at least the observed ``|ρ|``. Exact, over all
    ``n!`` orderings, for ``n ≤ 9``; above, ``(1 + hits) / (1 + R)`` over ``R = 100 000`` seeded
    random orderings. NaN for ``n < 3`` or a constant ranking. A perfect ρ at ``n = 4`` gives
    ``2/24`` (the ordering and its reverse)."""
    import itertools

    import numpy as np

    if len(x) != len(y):
        raise ValueError(f"paired values need equal lengths, got {len(x)} and {len(y)}")
    n = len(x)
    if n < 3:
        return float("nan")
    rx = scipy_stats.rankdata(x) - (n + 1) / 2
    ry = scipy_stats.rankdata(y) - (n + 1) / 2
    scale = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if scale == 0:
        return float("nan")
    observed = abs(float(rx @ ry)) / scale
    if n <= EXACT_PERMUTATION_MAX_N:
        orders = np.array(list(itertools.permutations(range(n))))
        rhos = np.abs(ry[orders] @ rx) / scale
        return float(np.mean(rhos >= observed - 1e-12))
    generator = np.random.default_rng(seed)
    orders = np.argsort(generator.random((MONTE_CARLO_PERMUTATIONS, n)), axis=1)
    hits = int(np.sum(np.abs(ry[orders] @ rx) / scale >= observed - 1e-12))
    return (1 + hits) / (1 + MONTE_CARLO_PERMUTATIONS)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: with ``p_(1) ≤ … ≤ p_(m)`` sorted,
    ``p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j))``. NaN p-values stay NaN and do not count in
    ``m`` (a metric that could not be tested is not a test)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(tested)
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
