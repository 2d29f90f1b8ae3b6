"""What every section's findings rule is built from (``docs/method.md`` §7): a finding's entry with
its verdict (``stats.verdict``; below a minimum sample, ``insufficient data`` with the reason), the
threat-model test that keeps unbounded attacks out of the verdicts, the minimum sample sizes, and
the finding's row in the findings table (page and terminal).

Each section states its own rule with these (``Section.findings``): the PSE section finding (i)
and the ground truth's specificity, the CAM section finding (ii), the dissection finding (iii).
"""

from __future__ import annotations

from ..output.text import format_eps, format_interval
from ..stats import INSUFFICIENT, verdict

# Minimum sample sizes (docs/method.md §7 gives the reasons).
MIN_FOOLED_IMAGES = 20  # image-type shares, CAM gains, ground-truth specificity
MIN_UNITS = 10  # a rank correlation over units
MIN_PROBE_IMAGES = 32  # the probe images each unit's attack sensitivity is averaged over
MIN_TOP_K = 5  # units in the top-k set


def requirement(have: int, need: int, what: str) -> tuple[int, int, str]:
    """One sample-size requirement of a finding: ``have`` of ``what``, at least ``need``."""
    return have, need, what


def judged(
    claim: str,
    effect: float | None,
    ci95: list[float],
    n: int,
    requirements: list[tuple[int, int, str]],
    claimed: str = "positive",
) -> dict:
    """A finding's entry: ``claim, effect, ci95, n, min_n, verdict`` and, when a requirement is unmet
    (or the effect is undefined), ``reason`` with the verdict ``insufficient data``."""
    entry = {"claim": claim, "effect": effect, "ci95": ci95, "n": n, "min_n": requirements[0][1]}
    unmet = [f"{have} {what} (needs ≥ {need})" for have, need, what in requirements if have < need]
    if unmet:
        entry.update(verdict=INSUFFICIENT, reason="rests on " + " and ".join(unmet))
    elif effect is None:
        entry.update(verdict=INSUFFICIENT, reason="the effect is undefined (a ranking is constant)")
    else:
        entry["verdict"] = verdict(ci95[0], ci95[1], claimed)
    return entry


def within_threat_model(entry: dict, threat: tuple[str, float] | None) -> bool:
    """Whether an attack's report entry (``bounded``, ``norm``, ``eps``) lies inside the threat model
    ``(norm, ε)``: bounded, in that norm, at that radius (any bounded attack when ``threat`` is None)."""
    if not entry.get("bounded", True):
        return False
    if threat is None or entry.get("eps") is None:
        return True
    return entry.get("norm") == threat[0] and abs(entry["eps"] - threat[1]) < 1e-9


def outside(entry: dict, name: str, threat: tuple[str, float] | None) -> str:
    """The reason an attack's rows carry no verdict: where it acts, against the threat model."""
    where = (
        "succeeds at any distance" if not entry.get("bounded", True) else f"acts at {entry['norm']} ε {entry['eps']:g}"
    )
    median = entry.get("median_distance")
    distance = f", median {entry.get('norm')} distance {median:.3g}" if median is not None else ""
    model = f"the {threat[0]} ε = {format_eps(threat[1])} threat model" if threat else "the threat model"
    return f"{name} {where}{distance}: verdicts rest on attacks inside {model}"


def verdict_text(finding: dict) -> str:
    """A finding's verdict, with its reason when it has one."""
    return f"{finding['verdict']}: {finding['reason']}" if "reason" in finding else finding["verdict"]


def finding_row(claim: str, finding: dict) -> list:
    """A finding's row of the findings table: ``[claim, effect, interval, n, minimum n, verdict]``."""
    return [
        claim,
        finding["effect"],
        format_interval(finding["ci95"]),
        finding["n"],
        finding["min_n"],
        verdict_text(finding),
    ]
