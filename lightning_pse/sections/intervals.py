"""Confidence intervals for the report's rates."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
QUOTABLE_HALF_WIDTH = 0.03  # a rate whose 95 % interval is wider than ±3 points gets a warning


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial rate ``successes / n``:
    ``(p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``; ``(0, 1)`` when ``n = 0``."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(successes: int, n: int, what: str) -> dict:
    """``{value, count, n, ci95}`` of a rate, with ``warning`` when its interval is too wide to quote."""
    low, high = wilson_interval(successes, n)
    entry = {"value": successes / n if n else None, "count": successes, "n": n, "ci95": [low, high]}
    if (high - low) / 2 > QUOTABLE_HALF_WIDTH:
        entry["warning"] = (
            f"{what}: n = {n} gives a 95 % interval of [{low:.3f}, {high:.3f}], too wide to quote; "
            f"raise --num_samples (RobustBench uses the full test set)"
        )
    return entry
