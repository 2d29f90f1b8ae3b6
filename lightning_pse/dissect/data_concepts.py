"""A concept probe set made from the data itself, for small grey-image models (``docs/method.md`` §3).

The synthetic concept set's colour concepts collapse to grey levels at 28 px, and no unit of a small
Fashion-MNIST CNN is a detector on it. ``DataConcepts`` gives such models concepts they can detect,
in the layout ``dissect`` reads (``concepts``, ``annotated``, ``concept_names``,
``concept_categories``; see ``concepts.py``):

- **object** concepts, as Broden labels objects: on a dataset with a plain background (MNIST,
  Fashion-MNIST) each image's foreground — the pixels brighter than ``FOREGROUND_THRESHOLD`` — is a
  pixel mask labelled by the image's class (one concept per class), annotated on the data images;
- **texture** concepts in grey, as Broden's DTD swatches: whole-image labels on texture swatches
  (annotated on swatches only): oriented sine gratings (0°, 45°, 90°, 135°), a checkerboard, a dot
  lattice, and three real texture photographs that ship inside scikit-image (brick, grass, gravel),
  cropped at random places and scales.

Our choices (documented in docs/method.md §3): the foreground threshold 0.1 of the pixel range (the
plain background is 0, the objects' darkest parts rarely below 0.1), one swatch in five (as the
synthetic set), the nine textures above.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import UserInputError

FOREGROUND_THRESHOLD = 0.1  # our choice: a pixel above a tenth of the range is the object's
GRATING_ANGLES = (0, 45, 90, 135)  # degrees; 0°: the stripes run vertically (the value varies along x)
PHOTO_TEXTURES = ("brick", "grass", "gravel")  # grey photographs inside scikit-image's wheel (skimage/data)
TEXTURE_NAMES = (*(f"grating {a}°" for a in GRATING_ANGLES), "checkerboard", "dots", *PHOTO_TEXTURES)


def photo_texture(name: str) -> Tensor:
    """``[H, W]`` in [0, 1]: scikit-image's sample photograph ``name`` in grey (read from the installed
    package's data folder, no download)."""
    try:
        folder = resources.files("skimage") / "data"
    except ModuleNotFoundError:
        raise UserInputError(
            "the data concept probe's texture photographs come from scikit-image: pip install scikit-image"
        ) from None
    with (folder / f"{name}.png").open("rb") as handle:
        grey = Image.open(handle).convert("L")
        return torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255)


def texture_swatch(name: str, size: int, generator: torch.Generator) -> Tensor:
    """``[size, size]`` in [0, 1]: one random instance of texture ``name`` (``TEXTURE_NAMES``).

    Gratings ``½ + ½·sin(2π(x·cos θ + y·sin θ)/period + phase)`` with a period of 3–6 px; a
    checkerboard of 2–4 px squares; dots of radius 1 px on a 4–6 px lattice; photographs cropped at a
    random place and scale (a square of 1–3 × ``size`` px of the original), resized to ``size``."""
    draw = lambda low, high: low + (high - low) * float(torch.rand((), generator=generator))  # noqa: E731
    y, x = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    if name.startswith("grating"):
        theta = math.radians(float(name.split()[1].rstrip("°")))
        period, phase = draw(3, 6), draw(0, 2 * math.pi)
        return 0.5 + 0.5 * torch.sin(2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / period + phase)
    if name == "checkerboard":
        side, dx, dy = int(draw(2, 5)), int(draw(0, 4)), int(draw(0, 4))
        return (
            (torch.div(x + dx, side, rounding_mode="floor") + torch.div(y + dy, side, rounding_mode="floor")) % 2
        ).float()
    if name == "dots":
        spacing = int(draw(4, 7))
        cx, cy = draw(0, spacing), draw(0, spacing)
        near = lambda v, c: torch.remainder(v - c + spacing / 2, spacing) - spacing / 2  # noqa: E731
        return ((near(x, cx) ** 2 + near(y, cy) ** 2) <= 1.0).float()
    if name in PHOTO_TEXTURES:
        photo = photo_texture(name)
        crop = min(int(size * draw(1, 3)), *photo.shape)
        top = int(draw(0, photo.shape[0] - crop + 1))
        left = int(draw(0, photo.shape[1] - crop + 1))
        patch = photo[top : top + crop, left : left + crop][None, None]
        return F.interpolate(patch, size=(size, size), mode="area")[0, 0].clamp(0, 1)
    raise UserInputError(f"unknown texture {name!r}; choose one of {', '.join(TEXTURE_NAMES)}")


class DataConcepts(Dataset):
    """Object concepts from ``images`` ``[N, C, H, W]`` in [0, 1] with ``labels`` ``[N]`` (their
    foregrounds, one concept per class of ``class_names``) and ``num_swatches`` grey texture swatches
    (``TEXTURE_NAMES``, in turn, each a fresh random instance from ``seed``), swatches first. Items as
    ``concepts.py`` describes: ``concepts`` ``[K + 9, H, W]`` bool, ``annotated`` ``[K + 9]`` bool.
    A swatch has the images' channel count (grey repeated)."""

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        class_names: list[str],
        num_swatches: int,
        threshold: float = FOREGROUND_THRESHOLD,
        seed: int = 0,
    ) -> None:
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise UserInputError(
                f"need images [N, C, H, W] and labels [N], got {tuple(images.shape)} and {tuple(labels.shape)}"
            )
        size = images.shape[-1]
        generator = torch.Generator().manual_seed(seed)
        kinds = [i % len(TEXTURE_NAMES) for i in range(num_swatches)]
        swatches = [texture_swatch(TEXTURE_NAMES[k], size, generator) for k in kinds]
        channels = images.shape[1]
        stacked = torch.stack(swatches)[:, None].expand(-1, channels, -1, -1) if swatches else images[:0]
        self.images = torch.cat([stacked, images.float()])
        self.num_swatches = num_swatches
        self.swatch_kind = torch.tensor(kinds, dtype=torch.long)
        self.labels = labels.long()
        self.foreground = images.float().amax(dim=1) > threshold  # [N, H, W]
        self.class_names = list(class_names)
        self.concept_names = [*self.class_names, *TEXTURE_NAMES]
        self.concept_categories = ["object"] * len(self.class_names) + ["texture"] * len(TEXTURE_NAMES)
        self.threshold = threshold

    @classmethod
    def like(cls, datamodule, num_images: int = 256, split: str = "val", swatch_share: float = 0.2, seed: int = 0):
        """``num_images`` concept images for ``datamodule``'s models: a seeded subset of its ``split``
        (``probe_set``) as the object images and ``round(swatch_share · num_images)`` swatches."""
        swatches = round(swatch_share * num_images)
        probe = datamodule.probe_set(max(num_images - swatches, 1), split=split, seed=seed)
        items = [probe[i] for i in range(len(probe))]
        images = torch.stack([item["image"] if isinstance(item, dict) else item[0] for item in items])
        labels = torch.tensor([int(item["label"] if isinstance(item, dict) else item[1]) for item in items])
        classes = max(datamodule.num_classes or 0, int(labels.max()) + 1)  # given data may not say
        names = [f"class {c}" for c in range(classes)]
        return cls(images, labels, names, swatches, seed=seed)

    def describe(self) -> str:
        """Which probe, for reports: ``data concepts (10 objects, 9 textures; 28 px, grey)``."""
        grey = "grey" if self.images.shape[1] == 1 else "RGB"
        return (
            f"data concepts ({len(self.class_names)} objects, {len(TEXTURE_NAMES)} textures; "
            f"{self.images.shape[-1]} px, {grey})"
        )

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        size = self.images.shape[-2:]
        objects, textures = len(self.class_names), len(TEXTURE_NAMES)
        concepts = torch.zeros(objects + textures, *size, dtype=torch.bool)
        if index < self.num_swatches:
            concepts[objects + int(self.swatch_kind[index])] = True
            annotated = torch.tensor([False] * objects + [True] * textures)
        else:
            data = index - self.num_swatches
            concepts[int(self.labels[data])] = self.foreground[data]
            annotated = torch.tensor([True] * objects + [False] * textures)
        return {"image": self.images[index], "concepts": concepts, "annotated": annotated}
