"""Numbers as the report and the terminal print them."""

from __future__ import annotations


def format_eps(eps: float) -> str:
    """``8/255`` for multiples of 1/255, else the number (``0.5``)."""
    steps = round(eps * 255)
    if eps > 0 and abs(steps / 255 - eps) < 1e-9 and steps / 255 != round(eps, 3):
        return f"{steps}/255"
    return f"{eps:g}"


def format_rate(entry: dict) -> str:
    """A rate entry (``value, count, n, ci95``) as ``0.812 [0.731, 0.872] (81/100)``."""
    low, high = entry["ci95"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}] ({entry['count']}/{entry['n']})"


def format_interval(ci: list[float]) -> str:
    """``[a, b]`` to three decimals (as the report prints its numbers), or ``—`` for an interval that
    could not be computed (NaN bounds)."""
    return "—" if any(bound != bound for bound in ci) else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
