"""The Broden layout (Bau et al. 2017), read as published and written from any concept probe set.

A Broden directory holds:

- ``index.csv``: one row per image, columns ``image`` (path under ``images/``), ``split``,
  ``ih, iw`` (image size), ``sh, sw`` (label-map size) and one column per category. A category cell
  lists, separated by ``;``, label PNG files (under ``images/``) or whole-image label numbers
  (Broden's ``scene`` and ``texture``); an empty cell means the category is not annotated there.
- ``category.csv``: ``name, first, last, count, frequency``, one row per category.
- ``label.csv``: ``number, name, category, frequency, coverage, syns``; ``category`` reads
  ``object(1200);part(3)``: the categories a label occurs in, with counts. Label 0 is "unlabelled".
- ``c_<category>.csv``: ``code, number, name, frequency, coverage``, the category's labels.
- Label PNGs: the label number of each pixel is ``R + 256·G``.

``BrodenDataset`` yields concept probe items (see ``concepts``): one concept per label whose
primary category (the one it occurs in most often, as NetDissect does) is selected, in label-number
order. ``write_broden``
exports a concept probe set in the same layout (e.g. ``SyntheticConcepts``, so the synthetic
probe set can be dissected by other tools).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError, UserInputError

_CATEGORY_COUNT = re.compile(r"^([^(]+)\((\d+)\)$")


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} is missing: a Broden directory needs index.csv, category.csv, label.csv "
            f"and images/ (pass the directory that holds them)"
        )
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _label_categories(text: str) -> dict[str, int]:
    """``'object(12);part(3)'`` → ``{'object': 12, 'part': 3}``."""
    out = {}
    for field in filter(None, text.split(";")):
        match = _CATEGORY_COUNT.match(field.strip())
        if match is None:
            raise UserInputError(f"label.csv category field {text!r} is not of the form name(count);...")
        out[match.group(1)] = int(match.group(2))
    return out


def decode_label_png(path: Path) -> Tensor:
    """``[h, w]`` int64 label numbers of a Broden label PNG: ``R + 256·G``."""
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    return torch.from_numpy(pixels[..., 0] + 256 * pixels[..., 1])


def encode_label_png(labels: Tensor, path: Path) -> None:
    """Write ``[h, w]`` label numbers (< 65 536) as a PNG with ``R + 256·G``."""
    labels = labels.to(torch.int64).cpu()
    rgb = torch.stack([labels % 256, labels // 256, torch.zeros_like(labels)], dim=-1).to(torch.uint8)
    Image.fromarray(rgb.numpy()).save(path)


class BrodenDataset(Dataset):
    """A Broden directory as a concept probe set.

    Args:
        root: the directory with ``index.csv`` etc.
        categories: categories to read (default: every category of ``category.csv``).
        split: keep only the rows of this ``split`` (``None``: all rows).
        image_size: resize images to ``image_size × image_size`` (bilinear), e.g. to the model's
            input size; ``None`` keeps ``ih × iw``.
        label_size: resize label maps to ``label_size × label_size`` (nearest, so labels stay
            labels), e.g. to cut memory; ``None`` keeps ``sh × sw``.
        grey: one-channel images (PIL's ``L`` conversion, ITU-R 601 luminance) for one-channel models.

    Items: ``image`` ``[3, H, W]`` (``[1, H, W]`` if ``grey``) in [0, 1], ``concepts`` ``[C, h, w]``
    bool (a whole-image label fills its mask), ``annotated`` ``[C]`` bool (the concept's primary
    category has a non-empty cell on this image's row). Masks are dense: ``C·h·w`` bytes per image
    (full Broden at 113 px: about 15 MB), so pick ``categories``, ``label_size`` and the batch size accordingly.
    """

    def __init__(
        self,
        root: str | Path,
        categories: list[str] | None = None,
        split: str | None = None,
        image_size: int | None = None,
        label_size: int | None = None,
        grey: bool = False,
    ) -> None:
        self.root = Path(root)
        self.grey = grey
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"Broden directory {self.root} does not exist: pass the directory holding "
                f"index.csv (or export one with lightning_pse.dissect.write_broden)"
            )
        known = [row["name"] for row in _read_csv(self.root / "category.csv")]
        self.categories = list(categories) if categories is not None else known
        unknown = [c for c in self.categories if c not in known]
        if unknown:
            raise UserInputError(f"unknown Broden categories {unknown}; {self.root}/category.csv has {known}")
        rows = _read_csv(self.root / "index.csv")
        missing = [c for c in ("image", "sh", "sw", *self.categories) if rows and c not in rows[0]]
        if missing:
            raise UserInputError(f"{self.root}/index.csv lacks the columns {missing}")
        self.rows = [row for row in rows if split is None or row.get("split") == split]
        self.image_size, self.label_size = image_size, label_size

        concepts = []  # (number, name, primary category)
        for row in _read_csv(self.root / "label.csv"):
            number = int(row["number"])
            counts = {c: n for c, n in _label_categories(row["category"]).items() if c in self.categories}
            if number > 0 and counts:
                concepts.append((number, row["name"], max(counts, key=counts.get)))
        concepts.sort()  # by label number
        self.concept_names = [name for _, name, _ in concepts]
        self.concept_categories = [category for _, _, category in concepts]
        largest = max((number for number, _, _ in concepts), default=0)
        self._concept_of_number = torch.full((largest + 1,), -1, dtype=torch.long)  # label number → concept
        for index, (number, _, _) in enumerate(concepts):
            self._concept_of_number[number] = index
        self._concepts_of_category = {
            c: torch.tensor([i for i, cc in enumerate(self.concept_categories) if cc == c], dtype=torch.long)
            for c in self.categories
        }

    def __len__(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        """``Broden (<root>: object, part; grey)``: which probe, for reports."""
        return f"Broden ({self.root}: {', '.join(self.categories)}{'; grey' if self.grey else ''})"

    def _read_image(self, relative: str) -> Tensor:
        path = self.root / "images" / relative
        if not path.is_file():
            raise DatasetNotFoundError(f"{path} is listed in index.csv but missing: restore the Broden images/ folder")
        pixels = np.asarray(Image.open(path).convert("L" if self.grey else "RGB"), dtype=np.float32) / 255
        image = torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1)
        if self.image_size is not None and image.shape[1:] != (self.image_size, self.image_size):
            image = F.interpolate(
                image[None],
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )[0].clamp(0, 1)
        return image

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        row = self.rows[index]
        h, w = int(row["sh"]), int(row["sw"])
        num_concepts = len(self.concept_names)
        concepts = torch.zeros(num_concepts, h, w, dtype=torch.bool)
        annotated = torch.zeros(num_concepts, dtype=torch.bool)
        for category in self.categories:
            entries = [e.strip() for e in row[category].split(";") if e.strip()]
            if entries:
                annotated[self._concepts_of_category[category]] = True
            for entry in entries:
                if entry.isdigit():  # a whole-image label
                    concept = self._concept(int(entry))
                    if concept >= 0:
                        concepts[concept] = True
                else:
                    self._paint(concepts, decode_label_png(self._label_path(entry)))
        if self.label_size is not None and (h, w) != (self.label_size, self.label_size):
            concepts = F.interpolate(concepts[None].float(), size=(self.label_size, self.label_size), mode="nearest")[
                0
            ].bool()
        return {"image": self._read_image(row["image"]), "concepts": concepts, "annotated": annotated}

    def _label_path(self, entry: str) -> Path:
        path = self.root / "images" / entry
        if not path.is_file():
            raise DatasetNotFoundError(f"label map {path} is listed in index.csv but missing: restore images/")
        return path

    def _concept(self, number: int) -> int:
        return int(self._concept_of_number[number]) if number < len(self._concept_of_number) else -1

    def _paint(self, concepts: Tensor, numbers: Tensor) -> None:
        """Set, in ``concepts`` ``[C, h, w]``, the pixels of each selected label of ``numbers`` ``[h, w]``."""
        if numbers.shape != concepts.shape[1:]:
            raise UserInputError(
                f"a Broden label map is {tuple(numbers.shape)} but index.csv says {tuple(concepts.shape[1:])} (sh, sw)"
            )
        known = numbers < len(self._concept_of_number)
        concept = torch.where(known, self._concept_of_number[numbers.clamp(max=len(self._concept_of_number) - 1)], -1)
        ys, xs = torch.nonzero(concept >= 0, as_tuple=True)
        concepts[concept[ys, xs], ys, xs] = True


def write_broden(probe: Dataset, root: str | Path, split: str = "val") -> Path:
    """Export a concept probe set (items and attributes as in ``concepts``) in the Broden layout:
    ``images/<i>.png`` (the image), ``images/<i>_<category>.png`` (label numbers; where concepts
    of one category overlap, the later concept wins), and the csv files. Label numbers are
    ``1..C`` in concept order; a category cell is left empty on images that do not annotate it.
    Returns ``root``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    names, categories = list(probe.concept_names), list(probe.concept_categories)
    category_names = list(dict.fromkeys(categories))
    pixel_counts = torch.zeros(len(names), dtype=torch.long)
    image_counts = torch.zeros(len(names), dtype=torch.long)
    index_rows = []
    for i in range(len(probe)):
        item = probe[i]
        image, concepts = item["image"], item["concepts"].bool()
        Image.fromarray((image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()).save(
            root / "images" / f"{i}.png"
        )
        pixel_counts += concepts.flatten(1).sum(dim=1)
        image_counts += concepts.flatten(1).any(dim=1)
        row = {
            "image": f"{i}.png",
            "split": split,
            "ih": image.shape[1],
            "iw": image.shape[2],
            "sh": concepts.shape[1],
            "sw": concepts.shape[2],
        }
        annotated = item.get("annotated", torch.ones(len(names), dtype=torch.bool))
        for category in category_names:
            members = [c for c, cc in enumerate(categories) if cc == category]
            row[category] = ""
            if annotated[members].any():
                labels = torch.zeros(concepts.shape[1:], dtype=torch.long)
                for c in members:
                    labels[concepts[c]] = c + 1
                encode_label_png(labels, root / "images" / f"{i}_{category}.png")
                row[category] = f"{i}_{category}.png"
        index_rows.append(row)
    total_pixels = max(sum(r["sh"] * r["sw"] for r in index_rows), 1)
    _write_csv(root / "index.csv", ["image", "split", "ih", "iw", "sh", "sw", *category_names], index_rows)
    label_rows = [
        {
            "number": c + 1,
            "name": name,
            "category": f"{categories[c]}({int(image_counts[c])})",
            "frequency": int(image_counts[c]),
            "coverage": float(pixel_counts[c]) / total_pixels,
            "syns": name,
        }
        for c, name in enumerate(names)
    ]
    _write_csv(
        root / "label.csv",
        ["number", "name", "category", "frequency", "coverage", "syns"],
        [{"number": 0, "name": "-", "category": "", "frequency": 0, "coverage": 0.0, "syns": ""}, *label_rows],
    )
    category_rows = []
    for category in category_names:
        members = [c for c, cc in enumerate(categories) if cc == category]
        category_rows.append(
            {
                "name": category,
                "first": members[0] + 1,
                "last": members[-1] + 1,
                "count": len(members),
                "frequency": len(probe),
            }
        )
        _write_csv(
            root / f"c_{category}.csv",
            ["code", "number", "name", "frequency", "coverage"],
            [
                {
                    "code": code,
                    "number": c + 1,
                    "name": names[c],
                    "frequency": int(image_counts[c]),
                    "coverage": float(pixel_counts[c]) / total_pixels,
                }
                for code, c in enumerate(members, start=1)
            ],
        )
    _write_csv(root / "category.csv", ["name", "first", "last", "count", "frequency"], category_rows)
    return root


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
