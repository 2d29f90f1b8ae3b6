"""Concept probe sets: what ``dissect`` reads.

A concept probe set is a dataset whose items are dicts with

- ``image`` ``[3, H, W]`` float in [0, 1];
- ``concepts`` ``[C, h, w]`` bool, one mask per concept (any label resolution ``h × w``);
- ``annotated`` ``[C]`` bool, whether the concept's category is annotated on this image (Broden
  annotates each category on some images only; a unit's pixels count towards a concept's IoU only
  on images where it is annotated, ``docs/method.md`` §3);

and which has the attributes ``concept_names`` and ``concept_categories`` (lists of length ``C``).

``SyntheticConcepts`` generates one from the synthetic benchmark's renderer, with Broden's
structure (our choices): *scene* images annotate the categories ``shape`` (10 concepts, both objects
count) and ``color`` (9, the objects' palette colours) per pixel; *texture swatches* (a share
``swatch_share = 0.2`` of the images: the same kind of scene rendered without objects) carry a
whole-image ``texture`` label (5 concepts), as Broden's DTD images do. Texture is annotated on
swatches only: annotating it on scene backgrounds, which cover most of every image, would make a
texture IoU above 0.04 impossible for a unit that fires on 0.5 % of all positions.

The synthetic concept set is the built-in probe for **every** dataset (our choice; Broden is a 1 GB
download): ``concept_probe_set`` renders it at the model's input size and channel count, in grey
levels (luminance) for one-channel models such as MNIST's, where the colour concepts are dropped
(a grey image cannot show them). It covers shapes, colours and textures only; Broden adds objects,
parts, scenes and materials, annotated on natural images (``docs/method.md`` §3).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from ..data import SyntheticDataModule, probe_indices
from ..data.synthetic import COLOR_NAMES, SHAPES, TEXTURES, render_scenes, sample_scene_params
from ..errors import UserInputError
from .broden import BrodenDataset
from .data_concepts import DataConcepts
from .settings import CONCEPT_PROBES

LUMINANCE = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601 weights of R, G, B
CONCEPT_CATEGORIES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "color": COLOR_NAMES, "texture": TEXTURES}


class SyntheticConcepts(Dataset):
    """``num_images`` generated concept probe images (``seed``; the first ``round(swatch_share·N)``
    are texture swatches), rendered like ``SyntheticDataModule`` images of ``image_size`` px with
    pixel ``noise``. Items as in the module docstring, ``concepts`` ``[24, H, W]``. ``grey``: one-channel
    images (ITU-R 601 luminance of the colour rendering) and no colour concepts (``[15, H, W]``)."""

    def __init__(
        self,
        num_images: int = 512,
        image_size: int = 32,
        noise: float = 0.03,
        seed: int = 0,
        swatch_share: float = 0.2,
        grey: bool = False,
    ) -> None:
        if num_images < 1 or not 0 <= swatch_share <= 1:
            raise ValueError(f"need num_images ≥ 1 and 0 ≤ swatch_share ≤ 1, got {num_images}, {swatch_share}")
        params = sample_scene_params(num_images, seed)
        scenes = render_scenes(params, image_size, noise)
        self.num_swatches = round(swatch_share * num_images)
        swatches = render_scenes(
            params.select(slice(0, self.num_swatches)), image_size, noise, draw_main=False, draw_distractor=False
        )
        images = torch.cat([swatches.images, scenes.images[self.num_swatches :]])
        if grey:
            images = (LUMINANCE.view(1, 3, 1, 1) * images).sum(dim=1, keepdim=True)
        self.images = (images * 255).round().to(torch.uint8)  # 8-bit like the benchmark's splits (and PNGs)
        self.shape_map, self.color_map = scenes.shape_map.long(), scenes.color_map.long()
        self.texture = params.texture
        self.categories = {c: names for c, names in CONCEPT_CATEGORIES.items() if not (grey and c == "color")}
        self.grey = grey
        self.concept_names = [name for names in self.categories.values() for name in names]
        self.concept_categories = [category for category, names in self.categories.items() for _ in names]
        self._category = torch.tensor([list(self.categories).index(c) for c in self.concept_categories])

    @classmethod
    def like(cls, datamodule: SyntheticDataModule, num_images: int = 512, seed: int = 3) -> SyntheticConcepts:
        """Concept images rendered as ``datamodule``'s (its image size and noise), from a seed apart
        from its splits' seeds."""
        h = datamodule.hparams
        return cls(num_images, image_size=h.image_size, noise=h.noise, seed=h.seed * 1000 + seed)

    def describe(self) -> str:
        """``synthetic concepts (shape, color, texture; 32 px, RGB)``: which probe, for reports."""
        size = self.images.shape[-1]
        return f"synthetic concepts ({', '.join(self.categories)}; {size} px, {'grey' if self.grey else 'RGB'})"

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        size = self.images.shape[-2:]
        swatch = index < self.num_swatches
        unlabelled = torch.full(size, -1)
        label_maps = {
            "shape": unlabelled if swatch else self.shape_map[index],
            "color": unlabelled if swatch else self.color_map[index],
            "texture": torch.full(size, int(self.texture[index])) if swatch else unlabelled,
        }
        annotated_categories = torch.tensor([(category == "texture") == swatch for category in self.categories])
        concepts = torch.cat(
            [one_hot_masks(label_maps[category], len(names)) for category, names in self.categories.items()]
        )
        return {
            "image": self.images[index].float() / 255,
            "concepts": concepts,
            "annotated": annotated_categories[self._category],
        }


def concept_probe_set(
    datamodule,
    num_images: int,
    broden_dir: str | Path | None = None,
    broden_categories: list[str] | None = None,
    image_size: int = 32,
    in_channels: int = 3,
    seed: int = 0,
    probe: str = "synthetic",
) -> Dataset:
    """The concept probe set the dissection callback and ``analyze.py`` use: ``num_images`` images of
    the Broden directory ``broden_dir`` (a seeded subset, resized to ``image_size``, grey for one
    channel), or without one the synthetic concept set at ``image_size`` px and ``in_channels``
    (1: grey, no colour concepts) — rendered like ``datamodule``'s images when it is the synthetic
    benchmark, with the default noise otherwise; ``probe="data"``: ``DataConcepts`` made from
    ``datamodule``'s own validation images (objects from their foregrounds, grey textures). Its
    concept names and categories are ``concept_source(probe)``'s; ``describe_concepts(probe)`` names it."""
    if probe not in CONCEPT_PROBES:
        raise UserInputError(f"unknown concept probe {probe!r}; choose one of {', '.join(CONCEPT_PROBES)}")
    if probe == "data":
        if broden_dir is not None:
            raise UserInputError("the data concept probe and a Broden folder exclude each other: name one")
        return DataConcepts.like(datamodule, num_images, seed=seed)
    if in_channels not in (1, 3):
        raise UserInputError(f"dissection renders concept images with 1 or 3 channels; the model takes {in_channels}")
    if broden_dir is not None:
        broden = BrodenDataset(Path(broden_dir), broden_categories, image_size=image_size, grey=in_channels == 1)
        return Subset(broden, probe_indices(len(broden), num_images, seed))
    if isinstance(datamodule, SyntheticDataModule) and datamodule.hparams.image_size == image_size and in_channels == 3:
        return SyntheticConcepts.like(datamodule, num_images, seed=3 + seed)
    return SyntheticConcepts(num_images, image_size=image_size, seed=3 + seed, grey=in_channels == 1)


def describe_concepts(probe: Dataset) -> str:
    """Which concept probe set ``probe`` is, in a few words (for reports and logs)."""
    source = concept_source(probe)
    return source.describe() if hasattr(source, "describe") else type(source).__name__


def concept_source(probe: Dataset) -> Dataset:
    """The dataset holding ``probe``'s ``concept_names`` and ``concept_categories`` (a subset's base)."""
    return probe.dataset if isinstance(probe, Subset) else probe


def one_hot_masks(label_map: Tensor, num_labels: int) -> Tensor:
    """``[num_labels, h, w]`` bool from an integer ``[h, w]`` map (entries outside
    ``0..num_labels-1``, e.g. ``-1`` for unlabelled, set no mask)."""
    labels = torch.arange(num_labels, device=label_map.device)
    return label_map[None] == labels[:, None, None]
