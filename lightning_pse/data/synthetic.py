"""Synthetic shapes benchmark with per-pixel ground truth.

Each image shows one *main* object whose shape is the class (10 shapes), painted in a colour from a
named palette, at a random position, scale and rotation, on a textured background of one of a few
named kinds. With probability ``distractor_prob`` a smaller *distractor* object of a different
class is drawn where it cannot overlap the main one. Every sample carries the truth needed to check
CAM, PSE and dissection: the main-object and distractor masks, the distractor label, and per-pixel
concept maps (shape, colour, texture).

Everything is generated on the CPU from a seed with ``torch.Generator``, vectorised over the
batch, so a split of 20 000 images takes a few seconds and the same seed always gives the same
pixels.

Geometry, in normalised image coordinates where the image spans ``[-1, 1]`` on both axes:

- a shape is a membership function on the unit disk of its own frame ``q = Rot(-θ)(p - c) / r``;
- the main object has radius ``r_main ∈ [0.44, 0.60]`` (7–9.6 px on a 32-px image), the distractor
  ``r_dist ∈ [0.22, 0.30]``; their centres lie on opposite sides of a random line through the image
  centre, at a distance of at least ``r_main + r_dist + 1/16`` (a pixel at 32 px), so the bounding disks (and
  hence the masks) never overlap.

Labels (``label_rule``): ``shape`` (the default) makes the main object's shape the class, and the
background texture is noise a shape classifier can ignore. ``shape_texture`` (our variant, for a
ground-truth check of Network Dissection) makes the class the pair (shape group, texture):
``5·g + t`` with ``g = 0`` for the first five shapes and ``1`` for the others and ``t`` the texture
index, so a model must recognise the background texture to classify. The distractor's label
follows the same rule (it shares the background), so the distractor-based ground-truth checks of
PSE and CAM are meaningful under ``shape`` only.

Pixel values: backgrounds stay inside ``[0.3, 0.7]`` on every channel, and every palette colour has
at least one channel outside that band, so the object masks are exactly the pixels an object
changes (a test checks this by rendering the same scene without objects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor
from torch.utils.data import Dataset

SHAPES: tuple[str, ...] = (
    "disk",
    "square",
    "triangle",
    "plus",
    "star",
    "ring",
    "crescent",
    "bar",
    "ell",
    "frame",
)
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.80, 0.10),
    "blue": (0.10, 0.20, 0.90),
    "yellow": (0.95, 0.90, 0.10),
    "magenta": (0.85, 0.10, 0.85),
    "cyan": (0.10, 0.85, 0.90),
    "orange": (0.95, 0.50, 0.05),
    "white": (0.97, 0.97, 0.97),
    "black": (0.03, 0.03, 0.03),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
TEXTURES: tuple[str, ...] = ("stripes", "checker", "dots", "blotches", "gradient")
LABEL_RULES: tuple[str, ...] = ("shape", "shape_texture")

BACKGROUND_RANGE = (0.3, 0.7)
MAIN_RADIUS = (0.44, 0.60)
DISTRACTOR_RADIUS = (0.22, 0.30)
NO_LABEL = -1


@dataclass(frozen=True)
class SceneParams:
    """Random parameters of ``N`` scenes (all tensors have leading dimension ``N``)."""

    label: Tensor  # [N] int64, class (= shape index) of the main object
    color: Tensor  # [N] int64, palette index of the main object
    center: Tensor  # [N, 2] float, (x, y) in [-1, 1]
    radius: Tensor  # [N] float
    angle: Tensor  # [N] float, radians
    has_distractor: Tensor  # [N] bool
    distractor_label: Tensor  # [N] int64, NO_LABEL where there is none
    distractor_color: Tensor  # [N] int64
    distractor_center: Tensor  # [N, 2]
    distractor_radius: Tensor  # [N]
    distractor_angle: Tensor  # [N]
    texture: Tensor  # [N] int64, index into TEXTURES
    texture_colors: Tensor  # [N, 2, 3] the two background tones
    texture_angle: Tensor  # [N]
    texture_frequency: Tensor  # [N]
    texture_phase: Tensor  # [N, 2]
    noise_seed: Tensor  # [N] int64, seeds the per-image background noise and blotches

    def __len__(self) -> int:
        return self.label.shape[0]

    def select(self, index: slice | Tensor) -> SceneParams:
        return SceneParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class SyntheticBatch:
    """Rendered scenes. ``images`` is ``[N, 3, H, W]`` in [0, 1]; maps are ``[N, H, W]``."""

    images: Tensor
    labels: Tensor  # [N] int64
    object_mask: Tensor  # [N, H, W] bool
    distractor_mask: Tensor  # [N, H, W] bool
    distractor_labels: Tensor  # [N] int64, NO_LABEL where absent
    shape_map: Tensor  # [N, H, W] int8, shape index per object pixel, NO_LABEL elsewhere
    color_map: Tensor  # [N, H, W] int8, palette index per object pixel, NO_LABEL elsewhere
    texture_map: Tensor  # [N, H, W] int8, texture index per background pixel, NO_LABEL on objects


def sample_scene_params(num: int, seed: int, distractor_prob: float = 1.0) -> SceneParams:
    """Draw the parameters of ``num`` scenes deterministically from ``seed``."""
    if not 0.0 <= distractor_prob <= 1.0:
        raise ValueError(f"distractor_prob must lie in [0, 1], got {distractor_prob}")
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(num, *shape, generator=g)

    label = torch.randint(len(SHAPES), (num,), generator=g)
    # A different class for the distractor: shift the label by 1..C-1.
    distractor_label = (label + torch.randint(1, len(SHAPES), (num,), generator=g)) % len(SHAPES)
    has_distractor = torch.rand(num, generator=g) < distractor_prob
    radius = uniform(*MAIN_RADIUS)
    distractor_radius = uniform(*DISTRACTOR_RADIUS)

    # Main and distractor centres on opposite sides of a random line through the image centre.
    direction_angle = uniform(0.0, 2 * math.pi)
    direction = torch.stack([direction_angle.cos(), direction_angle.sin()], dim=1)
    extent = direction.abs().amax(dim=1)  # a centre at offset a stays inside when a*extent <= 1-r
    main_max = (1.0 - radius) / extent
    dist_max = (1.0 - distractor_radius) / extent
    gap = radius + distractor_radius + 1.0 / 16  # the radii plus a margin (one pixel at 32 px)
    main_offset = torch.clamp(gap - dist_max, min=0.0)
    main_offset = main_offset + (main_max - main_offset) * torch.rand(num, generator=g)
    dist_offset = gap - main_offset
    dist_offset = dist_offset + (dist_max - dist_offset) * torch.rand(num, generator=g)
    paired_center = direction * main_offset[:, None]
    free_center = (torch.rand(num, 2, generator=g) * 2 - 1) * (1.0 - radius[:, None])
    center = torch.where(has_distractor[:, None], paired_center, free_center)

    low, high = BACKGROUND_RANGE
    return SceneParams(
        label=label,
        color=torch.randint(len(COLORS), (num,), generator=g),
        center=center,
        radius=radius,
        angle=uniform(0.0, 2 * math.pi),
        has_distractor=has_distractor,
        distractor_label=torch.where(has_distractor, distractor_label, NO_LABEL),
        distractor_color=torch.randint(len(COLORS), (num,), generator=g),
        distractor_center=-direction * dist_offset[:, None],
        distractor_radius=distractor_radius,
        distractor_angle=uniform(0.0, 2 * math.pi),
        texture=torch.randint(len(TEXTURES), (num,), generator=g),
        texture_colors=uniform(low + 0.03, high - 0.03, 2, 3),
        texture_angle=uniform(0.0, math.pi),
        texture_frequency=uniform(2.0, 4.0),
        texture_phase=uniform(0.0, 2 * math.pi, 2),
        noise_seed=torch.randint(2**31 - 1, (num,), generator=g),
    )


def _shape_membership(shape: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Membership of local coordinates ``(u, v)`` ``[N, H, W]`` in each scene's ``shape`` ``[N]``.

    Every shape lies inside the unit disk of its frame, which the non-overlap placement relies on.
    """
    r = torch.sqrt(u * u + v * v)
    phi = torch.atan2(v, u)
    box = torch.maximum(u.abs(), v.abs())
    triangle = torch.ones_like(u, dtype=torch.bool)
    for k in range(3):
        a = math.pi / 2 + 2 * math.pi * k / 3
        triangle &= (u * math.cos(a) + v * math.sin(a)) >= -0.47
    # Five-pointed star: radius interpolates between 0.4 and 0.95 with a triangle wave in angle.
    wave = 1.0 - (torch.remainder(phi + math.pi / 2, 2 * math.pi / 5) / (math.pi / 5) - 1.0).abs()
    candidates = torch.stack(
        [
            r <= 0.9,  # disk
            box <= 0.64,  # square
            triangle,
            ((u.abs() <= 0.26) & (v.abs() <= 0.88)) | ((v.abs() <= 0.26) & (u.abs() <= 0.88)),  # plus
            r <= 0.4 + 0.55 * (1.0 - wave),  # star
            (r <= 0.9) & (r >= 0.5),  # ring
            (r <= 0.9) & (((u - 0.45) ** 2 + v * v) > 0.65**2),  # crescent
            (u.abs() <= 0.9) & (v.abs() <= 0.3),  # bar
            ((u >= -0.62) & (u <= -0.18) & (v.abs() <= 0.7))
            | ((u >= -0.62) & (u <= 0.62) & (v >= 0.26) & (v <= 0.7)),  # ell
            (box <= 0.64) & (box >= 0.36),  # frame
        ]
    )
    return candidates.gather(0, shape.view(1, -1, 1, 1).expand(1, *u.shape)).squeeze(0)


def _object_mask(grid: Tensor, shape: Tensor, center: Tensor, radius: Tensor, angle: Tensor) -> Tensor:
    """Pixels ``[N, H, W]`` covered by one object per scene; ``grid`` is ``[H, W, 2]``."""
    rel = (grid[None] - center[:, None, None, :]) / radius[:, None, None, None]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u = cos * rel[..., 0] + sin * rel[..., 1]
    v = -sin * rel[..., 0] + cos * rel[..., 1]
    return _shape_membership(shape, u, v)


def _background(params: SceneParams, grid: Tensor, noise: float) -> Tensor:
    """Textured backgrounds ``[N, 3, H, W]`` with every value inside ``BACKGROUND_RANGE``."""
    n = len(params)
    size = grid.shape[0]
    x, y = grid[..., 0][None], grid[..., 1][None]
    cos = params.texture_angle.cos()[:, None, None]
    sin = params.texture_angle.sin()[:, None, None]
    freq = params.texture_frequency[:, None, None] * math.pi
    along = (cos * x + sin * y) * freq + params.texture_phase[:, 0, None, None]
    across = (-sin * x + cos * y) * freq + params.texture_phase[:, 1, None, None]
    blotches = torch.empty(n, size, size)
    pixel_noise = torch.empty(n, size, size)
    for i, seed in enumerate(params.noise_seed.tolist()):
        g = torch.Generator().manual_seed(seed)
        coarse = torch.rand(1, 1, 5, 5, generator=g)
        blotches[i] = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[
            0, 0
        ]
        pixel_noise[i] = torch.randn(size, size, generator=g)
    patterns = torch.stack(
        [
            0.5 + 0.5 * torch.sin(along),  # stripes
            ((torch.sin(along) * torch.sin(across)) > 0).float(),  # checker
            (torch.cos(along) * torch.cos(across) > 0.5).float(),  # dots
            ((blotches - 0.5) * 2.5 + 0.5).clamp(0, 1),  # blotches
            (0.5 + 0.5 * (cos * x + sin * y) / math.sqrt(2)).expand(n, size, size),  # gradient
        ]
    )
    pattern = patterns.gather(0, params.texture.view(1, -1, 1, 1).expand(1, n, size, size))[0]
    tone_a, tone_b = params.texture_colors[:, 0, :, None, None], params.texture_colors[:, 1, :, None, None]
    image = tone_a + (tone_b - tone_a) * pattern[:, None]
    image = image + noise * pixel_noise[:, None]
    return image.clamp(*BACKGROUND_RANGE)


def render_scenes(
    params: SceneParams,
    image_size: int = 32,
    noise: float = 0.03,
    draw_main: bool = True,
    draw_distractor: bool = True,
) -> SyntheticBatch:
    """Render scenes; ``draw_main``/``draw_distractor`` off give the same scene without them."""
    n = len(params)
    coords = (torch.arange(image_size, dtype=torch.float32) + 0.5) * 2.0 / image_size - 1.0
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    grid = torch.stack([xx, yy], dim=-1)
    palette = torch.tensor(list(COLORS.values()))

    images = _background(params, grid, noise)
    main = _object_mask(grid, params.label, params.center, params.radius, params.angle)
    distractor = (
        _object_mask(
            grid,
            params.distractor_label.clamp(min=0),
            params.distractor_center,
            params.distractor_radius,
            params.distractor_angle,
        )
        & params.has_distractor[:, None, None]
    )
    shape_map = torch.full((n, image_size, image_size), NO_LABEL, dtype=torch.int8)
    color_map = torch.full_like(shape_map, NO_LABEL)
    for mask, label, color, drawn in (
        (distractor, params.distractor_label, params.distractor_color, draw_distractor),
        (main, params.label, params.color, draw_main),
    ):
        if drawn:
            images = torch.where(mask[:, None], palette[color][:, :, None, None], images)
        shape_map = torch.where(mask, label.to(torch.int8)[:, None, None], shape_map)
        color_map = torch.where(mask, color.to(torch.int8)[:, None, None], color_map)
    on_object = main | distractor
    texture_map = torch.where(on_object, NO_LABEL, params.texture.to(torch.int8)[:, None, None])
    return SyntheticBatch(
        images=images,
        labels=params.label,
        object_mask=main,
        distractor_mask=distractor,
        distractor_labels=params.distractor_label,
        shape_map=shape_map,
        color_map=color_map,
        texture_map=texture_map.to(torch.int8),
    )


def class_labels(shape: Tensor, texture: Tensor, label_rule: str = "shape") -> Tensor:
    """Class of each object ``[N]`` from its shape index and its scene's texture index (module
    docstring); ``NO_LABEL`` shapes stay ``NO_LABEL``."""
    if label_rule == "shape":
        return shape
    if label_rule == "shape_texture":
        group = (shape >= len(SHAPES) // 2).long()
        return torch.where(shape >= 0, group * len(TEXTURES) + texture, NO_LABEL)
    raise ValueError(f"unknown label_rule {label_rule!r}; choose one of {', '.join(LABEL_RULES)}")


def generate_shapes(
    num: int,
    seed: int,
    image_size: int = 32,
    distractor_prob: float = 1.0,
    noise: float = 0.03,
    chunk: int = 2048,
    label_rule: str = "shape",
) -> SyntheticBatch:
    """Sample and render ``num`` scenes in chunks (bounded memory); deterministic in ``seed``;
    ``labels`` and ``distractor_labels`` by ``label_rule`` (``class_labels``)."""
    params = sample_scene_params(num, seed, distractor_prob)
    parts = [render_scenes(params.select(slice(i, i + chunk)), image_size, noise) for i in range(0, num, chunk)]
    batch = {f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(SyntheticBatch)}
    batch["labels"] = class_labels(params.label, params.texture, label_rule)
    batch["distractor_labels"] = class_labels(params.distractor_label, params.texture, label_rule)
    return SyntheticBatch(**batch)


class SyntheticShapes(Dataset):
    """A split of the synthetic benchmark held in memory.

    Images are stored as ``uint8`` (the backgrounds and palette survive the rounding: they stay
    apart by more than 1/255). Each item is a dict with ``image`` ``[3, H, W]`` float in [0, 1],
    ``label``, ``object_mask`` and ``distractor_mask`` ``[H, W]`` bool, ``distractor_label``
    (``-1`` when absent), and ``shape_map``/``color_map``/``texture_map`` ``[H, W]`` int64 concept
    indices into ``SHAPES``/``COLOR_NAMES``/``TEXTURES`` (``-1`` where the concept is absent).
    """

    num_classes = len(SHAPES)
    classes = SHAPES

    def __init__(
        self,
        num: int,
        seed: int,
        image_size: int = 32,
        distractor_prob: float = 1.0,
        noise: float = 0.03,
        transform=None,
        label_rule: str = "shape",
    ) -> None:
        if num <= 0:
            raise ValueError(f"a synthetic split needs at least one sample, got num={num}")
        batch = generate_shapes(num, seed, image_size, distractor_prob, noise, label_rule=label_rule)
        self.images = (batch.images * 255).round().to(torch.uint8)
        self.batch = replace(batch, images=self.images)  # the images once, as uint8 (not also as float32)
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def labels(self) -> Tensor:
        return self.batch.labels

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        image = self.images[index].float() / 255
        if self.transform is not None:
            image = self.transform(image)
        b = self.batch
        return {
            "image": image,
            "label": b.labels[index],
            "object_mask": b.object_mask[index],
            "distractor_mask": b.distractor_mask[index],
            "distractor_label": b.distractor_labels[index],
            "shape_map": b.shape_map[index].long(),
            "color_map": b.color_map[index].long(),
            "texture_map": b.texture_map[index].long(),
        }
