"""Confidence intervals for the report's rates."""

from __future__ import annotations

from ..stats import wilson_interval

QUOTABLE_HALF_WIDTH = 0.03  # a rate whose 95 % interval is wider than ±3 points gets a warning


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
