"""The data concept probe (objects from the data's own foregrounds, grey textures) and label
stability under resampling and pixel noise."""

import pytest
import torch
from torch import nn

from lightning_pse.dissect import DissectionSettings
from lightning_pse.dissect.data_concepts import FOREGROUND_THRESHOLD, TEXTURE_NAMES, DataConcepts, texture_swatch
from lightning_pse.dissect.stability import NoisyImages, label_stability


def squares(n: int = 12, size: int = 12, label: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` grey images with a bright square (values 0.5–1) on a black background, all of ``label``."""
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(n, 1, size, size)
    images[:, :, 3:9, 2:8] = 0.5 + 0.5 * torch.rand(n, 1, 6, 6, generator=generator)
    return images, torch.full((n,), label)


def test_objects_are_the_foreground_labelled_by_class_and_swatches_carry_one_texture():
    images, labels = squares()
    images[0, 0, 0, 0] = FOREGROUND_THRESHOLD  # exactly at the threshold: background (strict >)
    probe = DataConcepts(images, labels, ["class 0", "class 1"], num_swatches=len(TEXTURE_NAMES) + 1)
    assert probe.concept_names == ["class 0", "class 1", *TEXTURE_NAMES] and len(probe) == 12 + 10
    assert probe.concept_categories[:2] == ["object"] * 2 and set(probe.concept_categories[2:]) == {"texture"}
    first_data = probe[probe.num_swatches]
    assert torch.equal(first_data["concepts"][1], images[0, 0] > FOREGROUND_THRESHOLD)
    assert not first_data["concepts"][1, 0, 0] and first_data["concepts"][1].sum() == 36
    assert not first_data["concepts"][0].any() and not first_data["concepts"][2:].any()
    assert first_data["annotated"].tolist() == [True, True] + [False] * len(TEXTURE_NAMES)
    for index in range(probe.num_swatches):  # textures in turn, whole-image labels
        item = probe[index]
        kind = index % len(TEXTURE_NAMES)
        assert item["concepts"][2 + kind].all() and item["concepts"].sum() == 144
        assert item["annotated"].tolist() == [False, False] + [True] * len(TEXTURE_NAMES)
        assert item["image"].shape == (1, 12, 12) and 0 <= item["image"].min() and item["image"].max() <= 1


def test_gratings_run_along_their_angle_and_photographs_are_real_crops():
    generator = torch.Generator().manual_seed(0)
    vertical, horizontal = texture_swatch("grating 0°", 16, generator), texture_swatch("grating 90°", 16, generator)
    assert torch.allclose(vertical, vertical[0].expand(16, 16)), "0°: the value varies along x only"
    assert torch.allclose(horizontal, horizontal[:, :1].expand(16, 16), atol=1e-6), "90°: along y only"
    diagonal = texture_swatch("grating 45°", 16, generator)
    assert torch.allclose(diagonal[1:, :-1], diagonal[:-1, 1:], atol=1e-5), "45°: constant along anti-diagonals"
    board = texture_swatch("checkerboard", 16, generator)
    assert set(board.unique().tolist()) == {0.0, 1.0} and 0.3 < board.mean() < 0.7
    brick = texture_swatch("brick", 16, generator)
    assert brick.std() > 0.02 and brick.unique().numel() > 20, "a photograph, not a flat patch"


class SquareDetector(nn.Module):
    """Two units at the input's resolution: unit 0 is the image (it fires on the bright square), unit
    1 fresh random noise on every pass (it fires anywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # dissect finds the device from a parameter
        self.feature_layer = nn.Identity()

    def forward(self, x):
        units = torch.cat([x, torch.rand_like(x)], dim=1) * self.scale
        return self.feature_layer(units).mean(dim=(2, 3))


def test_a_real_detector_keeps_its_label_and_a_noise_unit_does_not():
    torch.manual_seed(0)
    images, labels = squares(24)
    probe = DataConcepts(images, labels, ["class 0", "class 1"], num_swatches=9)
    stability = label_stability(SquareDetector(), None, probe, draws=10, quantile=0.2, iou_threshold=0.04)
    assert stability.result.best_concept[0] == 1 and stability.result.detectors[0], "unit 0 detects class 1's object"
    assert stability.bootstrap[0] == 1.0 and stability.noise[0] == 1.0 and stability.stable[0]
    assert not stability.stable[1], "a unit firing on noise has no stable label"
    summary = stability.summary()
    assert summary["num_units"] == 2 and summary["stable_detectors"] == int(stability.stable_detectors.sum()) >= 1


def test_noisy_images_add_the_same_noise_on_every_read():
    images, labels = squares(4)
    probe = DataConcepts(images, labels, ["a", "b"], num_swatches=0)
    noisy = NoisyImages(probe, 0.02, seed=1)
    first, again = noisy[0]["image"], noisy[0]["image"]
    assert torch.equal(first, again) and not torch.equal(first, probe[0]["image"])
    inside = probe[0]["image"][:, 4:8, 3:7]  # bright pixels, far from the clamp
    assert 0.01 < (noisy[0]["image"][:, 4:8, 3:7] - inside).std() < 0.04
    assert noisy.concept_names == probe.concept_names


def test_analyze_dissects_on_the_data_probe_with_stability(tmp_path):
    """``evaluate`` with ``dissection={"probe": "data", "stability_draws": 2}`` on grey 28-px images:
    the report names the data probe, carries the stability block, and the unit findings count only
    stable detectors."""
    from lightning_pse.analysis import evaluate
    from lightning_pse.attacks import PGD
    from lightning_pse.models import build_model

    torch.manual_seed(0)
    images, labels = squares(40, size=28)
    labels = torch.arange(40) % 10
    model = build_model("small_cnn", 10, in_channels=1, width=8).eval()
    report = evaluate(
        model,
        (images, labels),
        ["dissection"],
        num_samples=8,
        eps=0.1,
        sensitivity_attack=PGD(eps=0.1, steps=1, seed=0),
        dissection=DissectionSettings(probe="data", stability_draws=2, num_concept_images=30),
    )
    block = report["dissection"]
    assert block["concept_probe"].startswith("data concepts (10 objects, 9 textures; 28 px, grey)")
    assert block["num_images"] == 30 and block["stability"]["draws"] == 2
    stable = block["stability"]["stable_detectors"]
    assert 0 <= stable <= block["stability"]["detectors"] == block["interpretable_units"]
    # Every class has the same square here, so a unit's best class flips under resampling: few
    # detectors keep their label, and the top-k finding counts only those.
    assert stable < block["stability"]["detectors"]
    finding = report["findings"]["sensitive_units"]["top_sensitive_are_detectors"]
    shares = block["stability"]
    assert finding["effect"] == pytest.approx(shares["topk_detector_share"] - shares["randomk_detector_share"])
    assert finding["effect"] != pytest.approx(block["topk_detector_share"] - block["randomk_detector_share"])


def test_the_probe_is_named_and_checked_before_any_work(synthetic_data, tmp_path):
    from lightning_pse.analysis.options import build_parser
    from lightning_pse.dissect import concept_probe_set
    from lightning_pse.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown concept probe 'broden'; choose one of synthetic, data"):
        concept_probe_set(synthetic_data, 8, probe="broden")
    with pytest.raises(UserInputError, match="exclude each other"):
        concept_probe_set(synthetic_data, 8, broden_dir=tmp_path, probe="data")
    probe = concept_probe_set(synthetic_data, 10, probe="data")
    assert probe.describe().startswith("data concepts (10 objects, 9 textures; 32 px, RGB)") and len(probe) == 10
    options = build_parser().parse_args(["--dissection.probe", "data", "--dissection.stability_draws", "5"])
    assert options.dissection.probe == "data" and options.dissection.stability_draws == 5
