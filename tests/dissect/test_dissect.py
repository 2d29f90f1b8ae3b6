"""Network Dissection, unit sensitivity and neuron masking (``lightning_pse.dissect``)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import stats
from torch.utils.data import DataLoader, TensorDataset

from lightning_pse.attacks import PGD
from lightning_pse.data import SyntheticDataModule, SyntheticShapes
from lightning_pse.data.synthetic import class_labels
from lightning_pse.dissect import (
    BrodenDataset,
    ExactQuantile,
    SampledQuantile,
    SyntheticConcepts,
    attack_sensitivity,
    compare_sensitivity,
    dissect,
    mask_units,
    masking_curve,
    spearman,
    write_broden,
)
from lightning_pse.dissect.broden import encode_label_png
from lightning_pse.dissect.result import DissectionResult
from lightning_pse.dissect.tally import IoUTally
from lightning_pse.errors import UserInputError
from lightning_pse.models.capture import capture
from lightning_pse.training import ClassifierModule

from helpers import quiet_trainer


def reference_dissection(model, layer, images, masks, annotated, quantile, iou_threshold):
    """The definitions of METHOD.md §3 computed directly, one unit, image and concept at a time."""
    module = model.get_submodule(layer)
    with torch.no_grad(), capture(module) as outputs:
        model(images)
    acts = outputs[0].double().numpy()  # [N, K, h, w]
    num_images, num_units = acts.shape[:2]
    thresholds = np.array([np.percentile(acts[:, k], 100 * (1 - quantile)) for k in range(num_units)])
    num_concepts = masks.shape[1]
    iou = np.zeros((num_units, num_concepts))
    for k in range(num_units):
        unit_masks = []
        for i in range(num_images):
            up = F.interpolate(
                torch.from_numpy(acts[i, k][None, None]), size=masks.shape[-2:], mode="bilinear", align_corners=False
            )[0, 0].numpy()
            unit_masks.append(up > thresholds[k])
        for c in range(num_concepts):
            inter = union = 0
            for i in range(num_images):
                label = masks[i, c].numpy()
                unit = unit_masks[i] if annotated[i, c] else np.zeros_like(unit_masks[i])
                inter += np.logical_and(unit, label).sum()
                union += np.logical_or(unit, label).sum()
            iou[k, c] = inter / union if union else 0.0
    return thresholds, iou


def collate_probe(probe):
    items = [probe[i] for i in range(len(probe))]
    return (
        torch.stack([it["image"] for it in items]),
        torch.stack([it["concepts"] for it in items]),
        torch.stack([it["annotated"] for it in items]),
    )


def test_dissection_equals_direct_recomputation(trained_model):
    probe = SyntheticConcepts(12, seed=5, swatch_share=0.25)  # 3 swatches: texture annotated there only
    images, masks, annotated = collate_probe(probe)
    assert annotated[:3, -5:].all() and not annotated[:3, :-5].any() and not annotated[3:, -5:].any()
    for layer in ("body.4", "body.7"):  # 16×16 and 8×8 feature maps, labels at 32×32
        result = dissect(trained_model, layer, DataLoader(probe, batch_size=5), quantile=0.01, iou_threshold=0.04)
        thresholds, iou = reference_dissection(trained_model, layer, images, masks, annotated, 0.01, 0.04)
        torch.testing.assert_close(result.thresholds.double(), torch.from_numpy(thresholds), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(result.iou, torch.from_numpy(iou), rtol=1e-6, atol=1e-9)
        reference_best = torch.from_numpy(iou).max(dim=1)
        assert torch.equal(result.best_iou, reference_best.values)
        assert torch.equal(result.detectors, reference_best.values > 0.04)
        assert 0 < result.interpretable_units < len(result.thresholds)  # a mix, so the labels are checked
        assert result.concept_names == probe.concept_names and result.layer == layer
        assert result.num_images == 12


def test_tuple_loader_and_module_layer(trained_model):
    probe = SyntheticConcepts(8, seed=1, swatch_share=0.0)
    images, masks, _ = collate_probe(probe)
    by_name = dissect(trained_model, "body.7", DataLoader(probe, batch_size=4))
    by_module = dissect(
        trained_model,
        trained_model.feature_layer,
        DataLoader(TensorDataset(images, masks), batch_size=3),
        concept_names=probe.concept_names,
        concept_categories=probe.concept_categories,
    )
    torch.testing.assert_close(by_name.iou, by_module.iou)
    assert by_module.layer == "body.7" and by_module.concept_categories == probe.concept_categories


def test_dissection_leaves_the_model_as_it_was(trained_model):
    model = trained_model.train()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        dissect(model, "body.3", DataLoader(SyntheticConcepts(6, seed=2), batch_size=3))
        assert model.training and all(m.training for m in model.modules())
        for key, value in model.state_dict().items():
            assert torch.equal(value, buffers[key]), key
        assert all(p.grad is None for p in model.parameters())
        assert not any(m._forward_hooks for m in model.modules())
    finally:
        model.eval()


def test_exact_quantile_matches_torch_quantile():
    values = torch.randn(5000, 7)
    estimator = ExactQuantile(0.995)
    for part in values.split(999):
        estimator.update(part)
    torch.testing.assert_close(estimator.compute(), torch.quantile(values, 0.995, dim=0))


def test_sampled_quantile_error_is_within_its_documented_bound():
    generator = torch.Generator().manual_seed(0)
    values = torch.cat([torch.randn(400_000, 3, generator=generator), torch.rand(400_000, 3, generator=generator)])
    values[:, 2] = values[:, 2].exp()  # a skewed unit too
    level, sample_size = 0.995, 20_000
    sampled = SampledQuantile(level, sample_size=sample_size, seed=1)
    for part in values.split(30_000):
        sampled.update(part)
    estimate = sampled.compute()
    share_above = (values > estimate).double().mean(dim=0)
    sigma = (0.005 * 0.995 / sample_size) ** 0.5
    assert ((share_above - 0.005).abs() < 4 * sigma).all(), share_above
    exact = ExactQuantile(level)
    exact.update(values)
    assert not torch.equal(estimate, exact.compute())  # it is an estimate...
    small = SampledQuantile(level, sample_size=10_000)
    small.update(values[:6000])
    torch.testing.assert_close(small.compute(), torch.quantile(values[:6000], level, dim=0))  # ...exact when all fit


def test_sampled_dissection_is_close_to_exact(trained_model):
    loader = DataLoader(SyntheticConcepts(32, seed=4), batch_size=8)
    exact = dissect(trained_model, "body.4", loader)
    sampled = dissect(trained_model, "body.4", loader, quantile_method="sampled", sample_size=4096)
    assert not torch.equal(exact.thresholds, sampled.thresholds)
    assert (exact.best_iou - sampled.best_iou).abs().mean() < 0.02


def test_each_pass_is_cached_under_what_it_depends_on(trained_model, tmp_path):
    """Two batches, two passes: a first call runs 4 forwards; again (or another iou_threshold, which
    changes no computed number) none; other concept names only the IoU pass (2); another quantile
    both (4). A damaged cache file is a clear error, never trusted."""
    concepts = SyntheticConcepts(8, seed=3)
    loader = DataLoader(concepts, batch_size=4)
    cache = tmp_path / "dissect.pt"
    calls = []
    handle = trained_model.register_forward_hook(lambda *args: calls.append(1))

    def forwards(**kwargs):
        calls.clear()
        result = dissect(trained_model, "body.7", loader, cache=cache, **kwargs)
        return len(calls), result

    try:
        count, first = forwards()
        assert count == 4 and cache.exists()
        count, again = forwards()
        assert count == 0 and torch.equal(again.iou, first.iou) and again.concept_names == first.concept_names
        count, looser = forwards(iou_threshold=0.05)
        assert count == 0 and torch.equal(looser.iou, first.iou) and looser.iou_threshold == 0.05
        renamed = [f"c{i}" for i in range(len(concepts.concept_names))]
        count, other = forwards(concept_names=renamed)
        assert count == 2 and other.concept_names == renamed and torch.equal(other.thresholds, first.thresholds)
        count, _ = forwards(quantile=0.01)
        assert count == 4
    finally:
        handle.remove()
    cache.write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="delete it"):
        dissect(trained_model, "body.7", loader, cache=cache)


def test_dissection_refuses_bad_input(trained_model):
    loader = DataLoader(SyntheticConcepts(4, seed=0), batch_size=4)
    with pytest.raises(UserInputError, match="no layer"):
        dissect(trained_model, "body.99", loader)
    with pytest.raises(UserInputError, match="spatial maps"):
        dissect(trained_model, "classifier", loader)
    with pytest.raises(UserInputError, match="quantile"):
        dissect(trained_model, "body.7", loader, quantile=0.995)
    with pytest.raises(UserInputError, match="concept names"):
        dissect(trained_model, "body.7", loader, concept_names=["a", "b"])


# --- the Broden layout ---------------------------------------------------------------------------------


def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def tiny_broden(tmp_path):
    """Three images in the published Broden layout: pixel-level ``object`` and ``color`` label PNGs
    (label numbers above 255 use the G channel), whole-image ``scene`` labels, an image without
    ``object`` annotation, and a label occurring in two categories."""
    root = tmp_path / "broden"
    (root / "images" / "ade").mkdir(parents=True)
    labels = [
        (1, "red-c", "color(30)"),
        (2, "blue-c", "color(20)"),
        (300, "dog", "object(5)"),
        (301, "grass", "object(9);color(2)"),
        (7, "street-s", "scene(2)"),
        (8, "beach-s", "scene(1)"),
    ]
    write_csv(
        root / "label.csv",
        ["number", "name", "category", "frequency", "coverage", "syns"],
        [{"number": 0, "name": "-", "category": "", "frequency": 0, "coverage": 0, "syns": ""}]
        + [
            {"number": n, "name": name, "category": cat, "frequency": 1, "coverage": 0.1, "syns": name}
            for n, name, cat in labels
        ],
    )
    write_csv(
        root / "category.csv",
        ["name", "first", "last", "count", "frequency"],
        [{"name": c, "first": 1, "last": 2, "count": 2, "frequency": 3} for c in ("color", "object", "scene")],
    )
    for category, members in (
        ("color", [(1, 1, "red-c"), (2, 2, "blue-c")]),
        ("object", [(1, 300, "dog"), (2, 301, "grass")]),
        ("scene", [(1, 7, "street-s"), (2, 8, "beach-s")]),
    ):
        write_csv(
            root / f"c_{category}.csv",
            ["code", "number", "name", "frequency", "coverage"],
            [{"code": code, "number": n, "name": name, "frequency": 1, "coverage": 0.1} for code, n, name in members],
        )
    rng = np.random.default_rng(0)
    maps, rows = [], []
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / "images" / "ade" / f"{i}.jpg")
        color = torch.from_numpy(rng.choice([0, 1, 2], size=(4, 4)))
        obj = torch.from_numpy(rng.choice([0, 300, 301], size=(4, 4)))
        encode_label_png(color, root / "images" / "ade" / f"{i}_color.png")
        encode_label_png(obj, root / "images" / "ade" / f"{i}_object.png")
        maps.append((color, obj))
        rows.append(
            {
                "image": f"ade/{i}.jpg",
                "split": "train" if i < 2 else "val",
                "ih": 8,
                "iw": 8,
                "sh": 4,
                "sw": 4,
                "color": f"ade/{i}_color.png",
                "object": "" if i == 1 else f"ade/{i}_object.png",
                "scene": "7" if i == 0 else ("7;8" if i == 2 else ""),
            }
        )
    write_csv(root / "index.csv", ["image", "split", "ih", "iw", "sh", "sw", "color", "object", "scene"], rows)
    return root, maps


def test_broden_reader_decodes_the_published_layout(tiny_broden):
    root, maps = tiny_broden
    data = BrodenDataset(root)
    assert data.concept_names == ["red-c", "blue-c", "street-s", "beach-s", "dog", "grass"]  # label.csv order by number
    assert data.concept_categories == ["color", "color", "scene", "scene", "object", "object"]  # grass: primary object
    assert len(data) == 3
    for i, (color, obj) in enumerate(maps):
        item = data[i]
        assert item["image"].shape == (3, 8, 8) and 0 <= item["image"].min() and item["image"].max() <= 1
        concepts = item["concepts"]
        assert concepts.shape == (6, 4, 4) and concepts.dtype == torch.bool
        assert torch.equal(concepts[0], color == 1) and torch.equal(concepts[1], color == 2)
        if i == 1:
            assert not concepts[4:].any()
            assert item["annotated"].tolist() == [True, True, False, False, False, False]
        else:
            assert torch.equal(concepts[4], obj == 300) and torch.equal(concepts[5], obj == 301)
            assert item["annotated"].tolist() == [True] * 6
        assert concepts[2].all() == (i in (0, 2)) and concepts[3].all() == (i == 2)  # whole-image scene labels
    image = Image.open(root / "images" / "ade" / "0.jpg").convert("RGB")
    torch.testing.assert_close(
        data[0]["image"], torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    )


def test_broden_reader_selects_resizes_and_splits(tiny_broden):
    root, maps = tiny_broden
    data = BrodenDataset(root, categories=["object"], split="train", image_size=16, label_size=8)
    assert len(data) == 2 and data.concept_names == ["dog", "grass"]
    item = data[0]
    assert item["image"].shape == (3, 16, 16) and item["concepts"].shape == (2, 8, 8)
    upsampled = maps[0][1].repeat_interleave(2, 0).repeat_interleave(2, 1)  # nearest resizing keeps labels labels
    assert torch.equal(item["concepts"][0], upsampled == 300)


def test_broden_reader_errors_name_the_fix(tiny_broden, tmp_path):
    root, _ = tiny_broden
    with pytest.raises(UserInputError, match="does not exist"):
        BrodenDataset(tmp_path / "nowhere")
    with pytest.raises(UserInputError, match="unknown Broden categories"):
        BrodenDataset(root, categories=["texture"])
    (root / "images" / "ade" / "0_color.png").unlink()
    with pytest.raises(UserInputError, match="restore"):
        BrodenDataset(root)[0]
    (root / "label.csv").unlink()
    with pytest.raises(UserInputError, match="label.csv is missing"):
        BrodenDataset(root)


def test_synthetic_concepts_round_trip_through_the_broden_layout(tmp_path, trained_model):
    probe = SyntheticConcepts(10, seed=6, swatch_share=0.3)
    root = write_broden(probe, tmp_path / "synthetic_broden")
    data = BrodenDataset(root)
    assert data.concept_names == probe.concept_names and data.concept_categories == probe.concept_categories
    for i in range(len(probe)):
        expected, read = probe[i], data[i]
        assert torch.equal(read["concepts"], expected["concepts"])
        assert torch.equal(read["annotated"], expected["annotated"])
        assert torch.equal(read["image"], expected["image"])
    direct = dissect(trained_model, "body.7", DataLoader(probe, batch_size=5))
    exported = dissect(trained_model, "body.7", DataLoader(data, batch_size=5))
    assert torch.equal(direct.iou, exported.iou) and torch.equal(direct.thresholds, exported.thresholds)


def test_synthetic_concepts_mark_objects_colours_and_swatches():
    probe = SyntheticConcepts(20, seed=0, swatch_share=0.25)
    swatch, scene = probe[0], probe[10]
    texture = probe.concept_categories.index("texture")
    assert swatch["concepts"][texture:].sum(dim=0).eq(1).all()  # the whole swatch has one texture
    assert not swatch["concepts"][:texture].any()
    shapes = scene["concepts"][:10]
    colours = scene["concepts"][10:19]
    assert shapes.sum() > 0 and torch.equal(shapes.any(dim=0), colours.any(dim=0))  # every object pixel has a colour


# --- on the trained model --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_dissection(trained_model):
    probe = SyntheticConcepts(256, seed=3)
    return {layer: dissect(trained_model, layer, DataLoader(probe, batch_size=64)) for layer in ("body.0", "body.7")}


@pytest.fixture(scope="module")
def probe_batches(synthetic_data):
    return [(b["image"], b["label"]) for b in DataLoader(synthetic_data.probe_set(256, "val"), batch_size=128)]


def test_trained_model_has_shape_and_colour_detectors(trained_dissection):
    counts = {layer: result.category_counts() for layer, result in trained_dissection.items()}
    assert counts["body.7"]["shape"]["units"] > 0 and counts["body.7"]["shape"]["concepts"] >= 5
    assert counts["body.0"]["color"]["units"] > 0 and counts["body.0"]["color"]["concepts"] >= 5
    feature = trained_dissection["body.7"]
    rows = feature.unit_rows(torch.arange(len(feature.thresholds)).float())
    assert len(rows) == len(feature.thresholds) and rows[3]["sensitivity"] == 3.0
    assert sum(r["detector"] for r in rows) == feature.interpretable_units


def test_sensitivity_comparison_on_the_trained_model(trained_model, trained_dissection, probe_batches):
    attack = PGD(eps=8 / 255, steps=5, seed=0)
    sensitivity = attack_sensitivity(trained_model, "body.7", attack, probe_batches)
    assert sensitivity.shape == (128,) and (sensitivity >= 0).all() and sensitivity.max() > 0
    result = trained_dissection["body.7"]
    numbers = compare_sensitivity(sensitivity, result, top_fraction=0.1)
    assert numbers["k"] == 13
    order = torch.argsort(sensitivity, descending=True)
    assert numbers["topk_detector_share"] == pytest.approx(result.detectors[order[:13]].float().mean().item())
    assert numbers["bottomk_mean_iou"] == pytest.approx(result.best_iou[order[-13:]].mean().item())
    # k random units at their expectation: the layer's detector share and mean best IoU, exactly
    assert numbers["randomk_detector_share"] == pytest.approx(result.detectors.double().mean().item(), abs=1e-12)
    assert numbers["randomk_mean_iou"] == pytest.approx(result.best_iou.double().mean().item(), abs=1e-12)
    rho = numbers["spearman_sensitivity_iou"]
    assert -1 <= rho <= 1 and rho == pytest.approx(stats.spearmanr(sensitivity, result.best_iou).statistic)


def test_spearman_matches_scipy_with_ties():
    a = torch.tensor([1.0, 2, 2, 3, 5, 5, 5, 0])
    b = torch.tensor([0.3, 0.1, 0.1, 0.9, 0.0, 0.0, 0.2, 0.2])
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert spearman(a, torch.ones(8)) != spearman(a, torch.ones(8))  # nan for a constant


def test_mask_units_zeroes_exactly_the_chosen_channels(trained_model):
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), capture(trained_model.feature_layer) as clean:
        reference = trained_model(x)
    chosen = clean[0].mean(dim=(0, 2, 3)).topk(2).indices.tolist()  # active units, so masking matters
    with torch.no_grad(), mask_units(trained_model, "body.7", chosen), capture(trained_model.feature_layer) as masked:
        logits = trained_model(x)
    assert (masked[0][:, chosen] == 0).all() and (clean[0][:, chosen] > 0).any()
    keep = [k for k in range(128) if k not in chosen]
    torch.testing.assert_close(masked[0][:, keep], clean[0][:, keep])
    assert not torch.equal(logits, reference)
    assert not any(m._forward_hooks for m in trained_model.modules())
    with torch.no_grad():
        assert torch.equal(trained_model(x), reference)  # gone after the block


def test_masking_curve_masks_the_most_sensitive_units_beside_random_ones(trained_model, probe_batches, monkeypatch):
    import lightning_pse.dissect.masking as masking

    masked_sets = []
    original = masking.mask_units

    def spying_mask_units(model, layer, units):
        masked_sets.append(torch.as_tensor(units).tolist())
        return original(model, layer, units)

    monkeypatch.setattr(masking, "mask_units", spying_mask_units)
    attack = PGD(eps=8 / 255, steps=3, seed=0)
    batches = probe_batches[:1]
    sensitivity = attack_sensitivity(trained_model, None, attack, batches)
    rows = masking_curve(trained_model, None, sensitivity, attack, batches)
    assert [r["fraction"] for r in rows] == [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
    assert [r["num_units"] for r in rows] == [0, 1, 3, 6, 13, 26]
    order = torch.argsort(sensitivity, descending=True).tolist()
    # Fraction 0 masks nothing (no random twin); then, per fraction, the top units and as many random ones.
    top, random = masked_sets[:1] + masked_sets[1::2], masked_sets[2::2]
    assert top == [[]] + [order[:k] for k in (1, 3, 6, 13, 26)]
    assert [len(r) for r in random] == [1, 3, 6, 13, 26] and random[-1] != order[:26]
    first = rows[0]
    assert (
        first["clean_accuracy"] == first["random_clean_accuracy"]
        and first["robust_accuracy"] == first["random_robust_accuracy"]
    )
    by_hand = masking.accuracies(trained_model, attack, batches)
    assert (first["clean_accuracy"], first["robust_accuracy"]) == by_hand
    assert not any(m._forward_hooks for m in trained_model.modules())


@pytest.mark.parametrize("size_in,size_out", [((8, 8), (32, 32)), ((7, 5), (113, 90)), ((16, 16), (8, 8))])
def test_separable_upsampling_equals_interpolate(size_in, size_out):
    from lightning_pse.dissect.tally import upsample_bilinear

    maps = torch.randn(2, 3, *size_in)
    expected = F.interpolate(maps, size=size_out, mode="bilinear", align_corners=False)
    torch.testing.assert_close(upsample_bilinear(maps, size_out), expected, rtol=1e-5, atol=1e-6)


def test_label_pixels_count_only_where_their_category_is_annotated():
    """Two images, one unit firing everywhere, one concept covering half of each image's label map;
    the second image does not annotate the concept's category (its pixels came from another
    category's map, as a Broden part PNG paints a label listed under object and part). The
    definition counts only the annotated image: IoU = (P/2) / P = 0.5 (1.0 before the fix)."""
    from lightning_pse.dissect.tally import IoUTally

    tally = IoUTally(thresholds=torch.tensor([-1.0]), num_concepts=1)
    masks = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    masks[:, 0, :2] = True
    tally.update(torch.zeros(2, 1, 4, 4), masks, annotated=torch.tensor([[True], [False]]))
    assert tally.iou().item() == pytest.approx(0.5)


def test_shape_texture_labels_are_the_pair_of_shape_group_and_texture():
    shape, texture = torch.tensor([0, 4, 5, 9, -1]), torch.tensor([3, 0, 4, 2, 1])
    assert class_labels(shape, texture, "shape").tolist() == [0, 4, 5, 9, -1]
    assert class_labels(shape, texture, "shape_texture").tolist() == [3, 0, 9, 7, -1]
    data = SyntheticShapes(64, seed=1, label_rule="shape_texture")
    for item in (data[i] for i in range(64)):
        group = int(item["shape_map"][item["object_mask"]].unique()) >= 5
        texture = int(item["texture_map"][item["texture_map"] >= 0].unique())
        assert int(item["label"]) == 5 * group + texture


@pytest.mark.slow
def test_texture_in_the_label_gives_texture_detectors(trained_model):
    """Ground truth for Network Dissection: a model that must read the background texture grows
    texture detectors at its feature layer; the shape classifier (the test model) has few or none."""
    pl.seed_everything(0)
    data = SyntheticDataModule(num_train=1000, num_val=64, num_test=64, batch_size=128, label_rule="shape_texture")
    module = ClassifierModule(
        model="small_cnn", num_classes=10, mean=data.mean, std=data.std, lr=0.1, scheduler="onecycle"
    )
    quiet_trainer(max_epochs=2, limit_val_batches=0).fit(module, datamodule=data)
    loader = DataLoader(SyntheticConcepts(256, seed=3), batch_size=64)
    texture_model = dissect(module.model.eval(), "body.7", loader).category_counts()["texture"]["units"]
    shape_model = dissect(trained_model, "body.7", loader).category_counts()["texture"]["units"]
    assert texture_model >= 10 and shape_model <= 2 and texture_model >= 5 * max(shape_model, 1)


def test_thresholds_are_strict_at_equality():
    """A unit at exactly the IoU threshold is no detector, and a pixel at exactly a unit's activation
    threshold is outside its mask (both ``>``; NetDissect-Lite's rule)."""
    result = DissectionResult(
        "layer", torch.zeros(2), torch.tensor([[0.5], [0.5000001]]), ["c"], ["object"], iou_threshold=0.5
    )
    assert result.detectors.tolist() == [False, True]
    tally = IoUTally(torch.tensor([1.0]), num_concepts=1)
    activations = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]]])  # the mask's own resolution: no resampling
    masks = torch.tensor([[[[True, True], [False, False]]]])
    tally.update(activations, masks, torch.ones(1, 1, dtype=torch.bool))
    assert tally.iou().item() == pytest.approx(0.5), "only the pixel above 1.0 is the unit's: IoU 1/2"
