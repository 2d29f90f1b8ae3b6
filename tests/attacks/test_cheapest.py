"""``Attack.cheapest``: a copy at the smallest budget, for smoke runs; the original is untouched."""

import pytest
import torch

from lightning_pse.attacks import presets
from lightning_pse.attacks.base import SMALLEST_BUDGET

from helpers import TinyNet, data


def every_preset() -> dict:
    attacks = {f"{name}@linf": a for name, a in presets.autoattack_like(8 / 255, 10).items()}
    attacks |= {f"{name}@l1": a for name, a in presets.autoattack_like(12.0, 10, norm="l1").items()}
    attacks |= {f"pse_{name}": a for name, a in presets.pse_attacks(8 / 255).items()}
    attacks |= {"robust_eval": presets.robust_eval(), "sensitivity": presets.sensitivity()}
    return attacks


@pytest.mark.parametrize("name", sorted(every_preset()))
def test_the_cheapest_copy_runs_at_a_few_steps_and_leaves_the_original(name):
    attack = every_preset()[name]
    before = dict(vars(attack))
    cheap = attack.cheapest()
    assert vars(attack) == before, "the original keeps its settings"
    assert type(cheap) is type(attack)
    for setting, smallest in SMALLEST_BUDGET.items():
        if isinstance(before.get(setting), int):
            assert getattr(cheap, setting) == min(before[setting], smallest)
    # Two steps, one constant, one restart, one target: a budget of a few steps (APGD counts one
    # gradient per phase at ℓ1, so three phases plus two steps).
    assert cheap.budget() <= 5 < attack.budget() or attack.budget() <= 5
    x, y = data(4)
    x_adv = cheap(TinyNet(), x, y)
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
