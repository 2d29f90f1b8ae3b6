"""``check_radius``: a radius that constrains nothing on images in [0, 1] is refused, pinned at the
boundary for every norm (``≥`` the largest distance, not ``>``; √n at ℓ2, n at ℓ1)."""

import pytest

from lightning_pse.attacks.threat import check_radius, largest_perturbation
from lightning_pse.errors import UserInputError

SHAPE = (1, 2, 2)  # four values: the largest distances are 1 (ℓ∞), 2 (ℓ2) and 4 (ℓ1)


@pytest.mark.parametrize("norm, largest", [("linf", 1.0), ("l2", 2.0), ("l1", 4.0)])
def test_a_radius_at_the_largest_distance_is_refused_and_just_below_it_taken(norm, largest):
    assert largest_perturbation(norm, 4) == largest
    check_radius(norm, largest * 0.999, SHAPE)
    check_radius(norm, 0.0, SHAPE)
    for eps in (largest, largest * 300):
        with pytest.raises(UserInputError, match=f"constrains nothing.*at most {largest:g}.*below {largest:g}"):
            check_radius(norm, eps, SHAPE)
