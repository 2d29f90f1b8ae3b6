"""``min_fooled``: the probe set grows by further batches of the split until a PSE attack inside the
threat model has fooled enough images, reusing its attack runs; the report says how many it took."""

import pytest
import torch

from lightning_pse.analysis import evaluate
from lightning_pse.analysis.engine import Analysis
from lightning_pse.attacks import CW, PGD
from lightning_pse.data import SyntheticDataModule
from lightning_pse.errors import UserInputError

EPS = 2 / 255  # the cached test model keeps most samples at this radius: few are fooled per batch


def pse_attacks():
    return {
        # No random start: each image's attack is then the same whatever batch it sits in, so
        # probe sets holding the same images in another order fool the same count.
        "pgd": PGD(eps=EPS, steps=5, random_start=False),
        "cw": CW(steps=10, binary_search_steps=1),  # unbounded: fools far more, but outside the threat model
    }


def analysed(trained_model, synthetic_data, num_samples: int, **settings) -> dict:
    """The PSE section's report on ``num_samples`` test images at ``EPS`` with ``pse_attacks()``."""
    return evaluate(
        trained_model,
        synthetic_data,
        ["pse"],
        num_samples=num_samples,
        eps=EPS,
        pse_attacks=pse_attacks(),
        batch_size=16,
        **settings,
    )


@pytest.mark.slow  # about 20–70 s: several analyses
def test_the_probe_set_grows_until_the_bounded_attack_fooled_enough(trained_model, synthetic_data):
    few = analysed(trained_model, synthetic_data, 16)["pse"]["attacks"]["pgd"]["num_analyzed"]
    need = few + 6
    report = analysed(trained_model, synthetic_data, 16, min_fooled=need)
    gathered = report["gathered"]
    pgd = report["pse"]["attacks"]["pgd"]
    assert gathered["attack"] == "pgd", "C&W fools more but is unbounded: it does not count"
    assert gathered["fooled"] == pgd["num_analyzed"] >= need and not gathered["exhausted"]
    assert report["num_samples"] == gathered["images"] > 16 and gathered["images"] % 16 == 0
    assert gathered["initial"] == 16
    # It stopped at the first batch that reached the count: one batch less fell short.
    short = analysed(trained_model, synthetic_data, gathered["images"] - 16)
    assert short["pse"]["attacks"]["pgd"]["num_analyzed"] < need
    assert any("probe set grew to" in note for note in report["findings"]["notes"])
    # A probe set that already holds enough fooled images does not grow (the cached model may fool
    # none of the first 16, so the count asked is the one the grown set reached).
    enough = analysed(trained_model, synthetic_data, gathered["images"], min_fooled=gathered["fooled"])
    assert enough["gathered"]["images"] == enough["num_samples"] == gathered["images"]
    assert not any("probe set grew" in note for note in enough["findings"]["notes"]), "nothing grew: no note"


@pytest.mark.slow  # about 20–70 s: several analyses
def test_an_exhausted_split_says_so(trained_model):
    """A 48-image split and an impossible count: every image is taken, and the notes say the split
    ran out."""
    small = SyntheticDataModule(num_train=16, num_val=48, num_test=16, batch_size=16)
    small.setup()
    report = evaluate(
        trained_model,
        small,
        ["pse"],
        split="val",
        num_samples=16,
        eps=EPS,
        pse_attacks={"pgd": PGD(eps=EPS, steps=2, seed=0)},
        batch_size=16,
        min_fooled=10_000,
    )
    assert report["gathered"]["exhausted"] and report["num_samples"] == 48
    assert any("the split ran out first" in note for note in report["findings"]["notes"])


@pytest.mark.slow  # about 20–70 s: several analyses
def test_each_attack_runs_once_per_image_with_gathering(trained_model, synthetic_data, monkeypatch):
    """The gathering's attack runs are the sections' runs: PGD is called as often as in an analysis
    of the grown probe set without gathering."""
    seen = []
    original = PGD.perturb

    def counting(self, model, x, *args):
        seen.append(x.shape[0])
        return original(self, model, x, *args)

    monkeypatch.setattr(PGD, "perturb", counting)
    settings = dict(eps=EPS, pse_attacks={"pgd": PGD(eps=EPS, steps=3, seed=0)}, batch_size=16)
    gathered = evaluate(trained_model, synthetic_data, ["pse"], num_samples=16, min_fooled=4, **settings)
    with_gathering, seen[:] = sum(seen), []
    images = gathered["gathered"]["images"]
    evaluate(trained_model, synthetic_data, ["pse"], num_samples=images, **settings)
    assert images > 16 and with_gathering == sum(seen)


def test_a_negative_count_is_refused(trained_model, synthetic_data):
    with pytest.raises(UserInputError, match="min_fooled"):
        Analysis(trained_model, synthetic_data, ["pse"], num_samples=4, min_fooled=-1)
    assert torch.is_tensor(synthetic_data.split("test")[0]["image"])


@pytest.mark.slow  # about 10–30 s: two analyses
def test_only_the_sections_judging_fooled_images_see_the_gathered_images(trained_model, synthetic_data):
    """Robustness is measured on the probe set as asked (the same images for every model analysed
    with the same ``num_samples``); PSE judges every gathered image."""
    settings = dict(
        num_samples=16,
        eps=EPS,
        attacks={"pgd": PGD(eps=EPS, steps=3, random_start=False)},
        pse_attacks=pse_attacks(),
        batch_size=16,
    )
    asked = evaluate(trained_model, synthetic_data, ["robustness", "pse"], **settings)
    fooled = asked["pse"]["attacks"]["pgd"]["num_analyzed"]
    grown = evaluate(trained_model, synthetic_data, ["robustness", "pse"], min_fooled=fooled + 6, **settings)
    assert grown["gathered"]["images"] > 16
    assert grown["pse"]["attacks"]["pgd"]["num_analyzed"] == grown["gathered"]["fooled"] >= fooled + 6
    assert grown["clean"]["n"] == grown["attacks"]["pgd"]["n"] == grown["num_samples"] == 16
    assert grown["attacks"]["pgd"]["robust"] == asked["attacks"]["pgd"]["robust"]
    assert grown["clean"]["count"] == asked["clean"]["count"]
    assert any("the others the 16 images asked for" in note for note in grown["findings"]["notes"])
