import pytest
import torch

from lightning_pse.data.synthetic import (
    COLOR_NAMES,
    NO_LABEL,
    SHAPES,
    TEXTURES,
    SyntheticShapes,
    generate_shapes,
    render_scenes,
    sample_scene_params,
)


@pytest.fixture(scope="module")
def scenes():
    params = sample_scene_params(300, seed=7, distractor_prob=0.7)
    return params, render_scenes(params)


def test_masks_are_exactly_the_pixels_each_object_changes(scenes):
    params, full = scenes
    background = render_scenes(params, draw_main=False, draw_distractor=False)
    main_only = render_scenes(params, draw_distractor=False)
    changed_by_main = (main_only.images != background.images).any(dim=1)
    changed_by_all = (full.images != background.images).any(dim=1)
    assert torch.equal(changed_by_main, full.object_mask)
    assert torch.equal(changed_by_all, full.object_mask | full.distractor_mask)


def test_objects_never_overlap_and_distractor_is_another_class(scenes):
    params, batch = scenes
    assert not (batch.object_mask & batch.distractor_mask).any()
    assert batch.object_mask.flatten(1).any(1).all(), "every image shows its main object"
    has = params.has_distractor
    assert 0 < has.sum() < len(has)
    assert (batch.distractor_labels[has] != batch.labels[has]).all()
    assert (batch.distractor_labels[~has] == NO_LABEL).all()
    assert not batch.distractor_mask[~has].any()
    assert batch.distractor_mask[has].flatten(1).any(1).all()
    # The distractor is the smaller object.
    assert (batch.distractor_mask[has].sum((1, 2)) < batch.object_mask[has].sum((1, 2))).float().mean() > 0.95


def test_concept_maps_agree_with_masks_and_labels(scenes):
    params, b = scenes
    label_img = b.labels[:, None, None].expand_as(b.shape_map).to(torch.int8)
    dist_img = b.distractor_labels[:, None, None].expand_as(b.shape_map).to(torch.int8)
    assert torch.equal(b.shape_map[b.object_mask], label_img[b.object_mask])
    assert torch.equal(b.shape_map[b.distractor_mask], dist_img[b.distractor_mask])
    objects = b.object_mask | b.distractor_mask
    assert (b.shape_map[~objects] == NO_LABEL).all() and (b.color_map[~objects] == NO_LABEL).all()
    assert (b.texture_map[objects] == NO_LABEL).all()
    texture_img = params.texture[:, None, None].expand_as(b.texture_map).to(torch.int8)
    assert torch.equal(b.texture_map[~objects], texture_img[~objects])
    # Object pixels carry their palette colour exactly.
    from lightning_pse.data.synthetic import COLORS

    palette = torch.tensor(list(COLORS.values()))
    pixels = b.images.permute(0, 2, 3, 1)[b.object_mask]
    assert torch.allclose(pixels, palette[b.color_map[b.object_mask].long()])
    assert set(b.labels.tolist()) == set(range(len(SHAPES)))
    assert b.color_map.max() < len(COLOR_NAMES) and b.texture_map.max() < len(TEXTURES)


def test_deterministic_by_seed():
    a, b, c = generate_shapes(64, seed=3), generate_shapes(64, seed=3), generate_shapes(64, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.object_mask, b.object_mask)
    assert not torch.equal(a.images, c.images)


def test_chunked_generation_equals_one_pass():
    whole = generate_shapes(50, seed=1, chunk=1000)
    chunked = generate_shapes(50, seed=1, chunk=16)
    assert torch.equal(whole.images, chunked.images)


def test_image_size_is_a_parameter_and_values_in_unit_range():
    batch = generate_shapes(20, seed=0, image_size=64)
    assert batch.images.shape == (20, 3, 64, 64)
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert batch.object_mask.shape == (20, 64, 64)
    assert not (batch.object_mask & batch.distractor_mask).any()


def test_dataset_items_match_the_render_and_carry_ground_truth():
    ds = SyntheticShapes(40, seed=5, distractor_prob=1.0)
    direct = generate_shapes(40, seed=5, distractor_prob=1.0)
    item = ds[3]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert (item["image"] - direct.images[3]).abs().max() <= 0.5 / 255 + 1e-6
    assert item["label"] == direct.labels[3]
    assert torch.equal(item["object_mask"], direct.object_mask[3])
    assert item["distractor_label"] >= 0
    for key in ("shape_map", "color_map", "texture_map"):
        assert item[key].shape == (32, 32)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="distractor_prob"):
        sample_scene_params(4, 0, distractor_prob=1.5)
    with pytest.raises(ValueError, match="at least one sample"):
        SyntheticShapes(0, seed=0)


def test_a_split_stores_its_images_once_as_uint8():
    """~245 MB for 20 000 images was float32 kept beside the uint8 copy: only uint8 image tensors stay."""
    from dataclasses import fields

    split = SyntheticShapes(16, seed=0)
    stored = [getattr(split.batch, f.name) for f in fields(split.batch)] + [split.images]
    image_sized = [t for t in stored if t.dim() == 4]
    assert image_sized and all(t.dtype == torch.uint8 for t in image_sized)
    assert torch.equal(split[3]["image"], split.images[3].float() / 255)
