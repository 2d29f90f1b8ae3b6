"""Interval functions: exact at the edges, equal to scipy's, and pinned to hand-computed values."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, spearmanr

from lightning_pse.dissect import spearman
from lightning_pse.stats import (
    bootstrap_interval,
    holm,
    spearman_interval,
    spearman_permutation_p,
    verdict,
    wilson_interval,
)


def test_wilson_interval_is_exact_at_the_edges_for_every_n_up_to_5000():
    """0 of n starts at exactly 0 and n of n ends at exactly 1 (the closed form left ~1e-17 for
    933 and 1543 of these n)."""
    for n in range(1, 5001):
        assert wilson_interval(0, n)[0] == 0.0, n
        assert wilson_interval(n, n)[1] == 1.0, n
        assert wilson_interval(1, n)[0] > 0 and wilson_interval(n - 1, n)[1] < 1 or n == 1


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.data())
def test_wilson_interval_equals_scipys(n, data):
    successes = data.draw(st.one_of(st.just(0), st.just(n), st.integers(min_value=0, max_value=n)))
    expected = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(successes, n)
    assert low == pytest.approx(expected.low, abs=1e-12) and high == pytest.approx(expected.high, abs=1e-12)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_wilson_interval_of_nothing_is_the_unit_interval():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_spearman_with_ties_equals_scipys_and_its_interval_is_pinned():
    """Average ranks for ties (as scipy), and the Fisher-z interval with the Bonett–Wright standard
    error sqrt((1 + ρ²/2)/(n − 3)), pinned to values computed by hand from that formula."""
    a = torch.tensor([1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8, 8], dtype=torch.float64)
    b = torch.tensor([2, 1, 3, 3, 5, 4, 6, 6, 8, 7, 7, 9], dtype=torch.float64)
    rho = spearman(a, b)
    assert rho == pytest.approx(spearmanr(a, b).statistic, abs=1e-12) == pytest.approx(0.941399, abs=1e-6)
    assert spearman_interval(rho, 12) == pytest.approx([0.746663, 0.987515], abs=1e-6)
    assert spearman_interval(0.5, 10) == pytest.approx([-0.232119, 0.870476], abs=1e-6)
    assert spearman_interval(-0.3, 50) == pytest.approx([-0.538309, -0.017266], abs=1e-6)


def test_spearman_interval_keeps_its_bounds():
    assert spearman_interval(1.0, 20)[1] == 1.0 and spearman_interval(-1.0, 20)[0] == -1.0
    for rho in (-1.0, -0.999, 0.0, 0.999, 1.0):
        low, high = spearman_interval(rho, 5)
        assert -1.0 <= low <= rho <= high <= 1.0
    assert all(math.isnan(v) for v in spearman_interval(0.5, 3) + spearman_interval(math.nan, 30))


def test_bootstrap_interval_stays_within_the_statistics_range():
    values = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    low, high = bootstrap_interval(lambda c: float(c["v"].mean()), {"v": values})
    assert 0.0 <= low < values.mean() < high <= 1.0
    constant = bootstrap_interval(lambda c: float(c["v"].mean()), {"v": torch.zeros(10)})
    assert constant == [0.0, 0.0]
    assert all(math.isnan(v) for v in bootstrap_interval(lambda c: 0.0, {"v": torch.zeros(1)}))


def test_an_interval_touching_zero_is_not_clear_of_it():
    assert verdict(0.0, 0.3) == "inconclusive" and verdict(-0.3, 0.0) == "inconclusive"
    assert verdict(1e-9, 0.3) == "holds" and verdict(-0.3, -1e-9) == "does not hold"


def test_bootstrap_interval_of_a_mean_has_the_normal_width():
    """On 400 normal values the 95 % percentile-bootstrap interval of the mean spans about
    ±1.96·s/√n (a 90 % one would span ±1.64·s/√n, 16 % narrower)."""
    values = torch.randn(400, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    low, high = bootstrap_interval(lambda c: float(c["v"].mean()), {"v": values}, resamples=4000)
    expected = 2 * 1.959964 * float(values.std()) / 20
    assert (high - low) == pytest.approx(expected, rel=0.06)
    assert low < float(values.mean()) < high


def test_spearman_permutation_p_is_exact_and_two_sided_at_small_n():
    """Hand counts: a perfect ρ at n = 4 is met by the ordering and its reverse, 2 of 24 (one-sided
    would be 1/24); ρ = 0.8 at n = 5 (Σd² = 4) by 16 of 120 orderings (8 each side)."""
    assert spearman_permutation_p([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(2 / 24)
    assert spearman_permutation_p([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(2 / 24)
    assert spearman_permutation_p([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(16 / 120)
    assert spearman_permutation_p([1, 2, 3], [1, 3, 2]) == pytest.approx(1.0), "|ρ| ≥ 0.5: every ordering of 3"
    assert math.isnan(spearman_permutation_p([1, 2], [1, 2])) and math.isnan(
        spearman_permutation_p([1, 1, 1], [1, 2, 3])
    )


def test_spearman_permutation_p_counts_ties_with_average_ranks():
    """x = (1, 1, 2, 3), y = (1, 2, 3, 4): ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4), ρ = 0.9487;
    the orderings reaching |ρ| ≥ 0.9487 are the identity, the swap of the tied pair, and their two
    reverses: 4 of 24."""
    assert spearman_permutation_p([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(4 / 24)


def test_spearman_permutation_p_above_nine_points_samples_orderings_with_a_seed():
    x, y = list(range(12)), [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10]
    p = spearman_permutation_p(x, y)
    assert p == spearman_permutation_p(x, y) and 0 < p < 1e-3
    shuffled = [5, 11, 0, 7, 2, 9, 4, 1, 10, 3, 8, 6]
    rho = spearmanr(x, shuffled).statistic
    assert spearman_permutation_p(x, shuffled) == pytest.approx(
        spearmanr(x, shuffled, alternative="two-sided").pvalue, abs=0.05
    )
    assert abs(rho) < 0.5


def test_holm_adjusts_step_down_in_the_input_order():
    """p = (0.01, 0.04, 0.03): sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max(0.06, 0.04);
    Bonferroni would give (0.03, 0.12, 0.09). NaN stays NaN and is not counted in m."""
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert holm([0.6, 0.7]) == [1.0, 1.0] and holm([]) == []
