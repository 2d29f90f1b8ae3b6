"""LightningDataModules: the synthetic benchmark and real datasets in their published formats.

Every module yields batches as dicts with ``image`` ``[B, C, H, W]`` (pixels in [0, 1], no
normalisation: the model normalises) and ``label`` ``[B]``, and exposes ``num_classes``,
``in_channels``, ``mean`` and ``std`` (linked into the model by the CLI). Real datasets carve a
validation split from the training set with a fixed seed (for model selection) and keep the test
split apart; ``probe_set`` gives the deterministic subset used by callbacks and ``analyze.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import torchvision
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from torchdata.stateful_dataloader import StatefulDataLoader
from torchvision.transforms import v2

from ..errors import DatasetNotFoundError, UserInputError
from .datasets import DictDataset, TensorImageDataset, check_labels, unpack_batch
from .normalization import DATASET_STATS
from .probe import evaluation_sampler, probe_indices
from .readers import idx_exists, read_cifar_batches, read_idx, read_svhn_mat
from .synthetic import LABEL_RULES, SHAPES, SyntheticShapes


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset


class ImageDataModule(pl.LightningDataModule):
    """Loaders and probe subsets over three splits; subclasses say how to build the splits.

    Args:
        batch_size: training batch size (per process).
        eval_batch_size: batch size of the validation and test loaders (default: ``batch_size``).
        num_workers: DataLoader worker processes (0 loads in the main process).
    """

    stats_key: str = "synthetic"
    num_classes: int = 10
    in_channels: int = 3

    def __init__(self, batch_size: int = 128, eval_batch_size: int | None = None, num_workers: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self._splits: Splits | None = None

    @property
    def mean(self) -> tuple[float, ...]:
        return DATASET_STATS[self.stats_key][0]

    @property
    def std(self) -> tuple[float, ...]:
        return DATASET_STATS[self.stats_key][1]

    def _build_splits(self) -> Splits:
        raise NotImplementedError

    def check_available(self) -> None:
        """Refuse, as a ``UserInputError``, data that cannot be read (missing files), without reading
        it: called before training starts its logger. Data built in memory is always there."""

    def setup(self, stage: str | None = None) -> None:
        if self._splits is None:
            self._splits = self._build_splits()
            for name in ("train", "val", "test"):
                if len(getattr(self._splits, name)) == 0:
                    raise UserInputError(
                        f"the {name} split of {type(self).__name__} is empty: point the data module "
                        f"at a dataset with samples in every split"
                    )

    def split(self, name: str) -> Dataset:
        """The ``train``, ``val`` or ``test`` dataset (``setup`` runs on first use)."""
        self.setup()
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}; use train, val or test")
        return getattr(self._splits, name)

    def _loader(
        self, dataset: Dataset, shuffle: bool, batch_size: int, loader_class=DataLoader, sampler=None
    ) -> DataLoader:
        return loader_class(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        """A resumable loader (torchdata's ``StatefulDataLoader``): its position in the epoch and its
        shuffling generator are saved in checkpoints, so a run resumed from a mid-epoch checkpoint
        sees the rest of the epoch in the same order as an uninterrupted run."""
        with warnings.catch_warnings():  # torchdata 0.11 calls a deprecated torch function when built
            warnings.filterwarnings("ignore", message=".*set_vital.*")
            return self._loader(self.split("train"), True, self.batch_size, StatefulDataLoader)

    def val_dataloader(self) -> DataLoader:
        """In order; under DDP each sample on exactly one rank (``UnpaddedDistributedSampler``), so
        ``val/acc`` counts every sample once on any number of ranks."""
        return self._loader(
            self.split("val"), False, self.eval_batch_size, sampler=evaluation_sampler(self.split("val"))
        )

    def test_dataloader(self) -> DataLoader:
        """As ``val_dataloader``, on the test split."""
        return self._loader(
            self.split("test"), False, self.eval_batch_size, sampler=evaluation_sampler(self.split("test"))
        )

    def probe_set(self, num_samples: int | None, split: str = "val", seed: int = 0) -> Subset:
        """A deterministic subset of ``split`` (see ``probe_indices``), the same on every rank."""
        dataset = self.split(split)
        return Subset(dataset, probe_indices(len(dataset), num_samples, seed))

    def example_image(self, split: str = "val", seed: int = 0) -> Tensor:
        """``[1, C, H, W]``: the first image of the one-sample probe set of ``split`` (``seed``), for
        checks of the model and settings against the data's image size and channel count."""
        image, _ = unpack_batch(self.probe_set(1, split, seed)[0])
        return image[None]


class SyntheticDataModule(ImageDataModule):
    """The synthetic shapes benchmark (``lightning_pse.data.synthetic``): no files, no download.

    Args:
        num_train: training images (each split is generated from its own seed).
        num_val: validation images.
        num_test: test images.
        image_size: side of the square images in pixels.
        train_distractor_prob: chance of a distractor in training images.
        eval_distractor_prob: chance of a distractor in validation and test images (default 1, so
            every probe image has one for the ground-truth checks).
        noise: std of the pixel noise added to backgrounds.
        label_rule: ``shape`` (the class is the object's shape) or ``shape_texture`` (the class is
            the pair shape group × background texture; see ``lightning_pse.data.synthetic``).
        seed: base seed; splits use ``seed``, ``seed + 1``, ``seed + 2`` offset far apart.
    """

    stats_key = "synthetic"
    num_classes = len(SHAPES)
    in_channels = 3

    def __init__(
        self,
        num_train: int = 20000,
        num_val: int = 2000,
        num_test: int = 2000,
        image_size: int = 32,
        train_distractor_prob: float = 0.5,
        eval_distractor_prob: float = 1.0,
        noise: float = 0.03,
        label_rule: str = "shape",
        seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        if label_rule not in LABEL_RULES:
            raise UserInputError(f"unknown label_rule {label_rule!r}; choose one of {', '.join(LABEL_RULES)}")
        for name, size in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
            if size < 1:
                raise UserInputError(f"{name}={size}: every synthetic split needs at least one sample")
        self.save_hyperparameters()

    def _build_splits(self) -> Splits:
        h = self.hparams
        make = lambda n, offset, prob: SyntheticShapes(  # noqa: E731
            n,
            seed=h.seed * 1000 + offset,
            image_size=h.image_size,
            distractor_prob=prob,
            noise=h.noise,
            label_rule=h.label_rule,
        )
        return Splits(
            train=make(h.num_train, 0, h.train_distractor_prob),
            val=make(h.num_val, 1, h.eval_distractor_prob),
            test=make(h.num_test, 2, h.eval_distractor_prob),
        )


class FileDataModule(ImageDataModule):
    """A dataset read from ``data_dir``; validation carved from the training set.

    Args:
        data_dir: where the dataset lies (in its published layout, see each subclass).
        download: fetch it with torchvision when missing (default false: a missing dataset is an
            error that says where to put it).
        val_size: validation split carved from the training set, a fraction (< 1) or a count.
        split_seed: seed of the train/validation split (fixed, so model selection is repeatable).
        augment: training augmentation (crop + flip where the dataset has one); never applied to
            validation, test or probe sets.
    """

    display_name = "dataset"

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        val_size: float = 0.1,
        split_seed: int = 0,
        augment: bool = True,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        if val_size <= 0:
            raise UserInputError(f"val_size must be positive (a fraction or a count), got {val_size}")
        self.data_dir = Path(data_dir)
        self.download = download
        self.val_size = val_size
        self.split_seed = split_seed
        self.augment = augment
        self.save_hyperparameters()

    install_hint = ""  # another way to get the dataset, for the not-found error

    # Subclasses: files that must exist, how to download, and how to read a split.
    def _required_files(self) -> list[Path]:
        raise NotImplementedError

    def _download(self) -> None:
        raise UserInputError(f"{self.display_name} cannot be downloaded; put it in {self.data_dir}")

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def train_transform(self):
        """Augmentation of training images (tensor → tensor); ``None`` for none."""
        return None

    def prepare_data(self) -> None:
        if self.download and not self._files_present():
            self._download()

    def _files_present(self) -> bool:
        return all(idx_exists(p) for p in self._required_files())

    def check_available(self) -> None:
        """The dataset's files are there, unless ``download`` will fetch them (see ``ImageDataModule``)."""
        if not self.download:
            self._check_present()

    def _check_present(self) -> None:
        missing = [p for p in self._required_files() if not idx_exists(p)]
        if missing:
            raise DatasetNotFoundError(
                f"{self.display_name} not found: {missing[0]} is missing; put the dataset in "
                f"{self.data_dir} (data.data_dir) or pass --data.download=true{self.install_hint}"
            )

    def _carve(self, train_plain: Dataset, train_augmented: Dataset) -> tuple[Dataset, Dataset]:
        n = len(train_plain)
        n_val = int(round(self.val_size * n)) if self.val_size < 1 else int(self.val_size)
        if not 0 < n_val < n:
            raise UserInputError(f"val_size={self.val_size} leaves no training or no validation data out of {n}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        return Subset(train_augmented, sorted(perm[n_val:])), Subset(train_plain, sorted(perm[:n_val]))

    def _build_splits(self) -> Splits:
        if self.download:
            self.prepare_data()
        self._check_present()
        images, labels = self._read(train=True)
        test_images, test_labels = self._read(train=False)
        for name, lab in (("training split", labels), ("test split", test_labels)):
            check_labels(lab, self.num_classes, f"{self.display_name} {name}")
        augment = self.train_transform() if self.augment else None
        train, val = self._carve(TensorImageDataset(images, labels), TensorImageDataset(images, labels, augment))
        return Splits(train=train, val=val, test=TensorImageDataset(test_images, test_labels))


def _crop_flip(size: int, padding: int = 4):
    return v2.Compose([v2.RandomCrop(size, padding=padding), v2.RandomHorizontalFlip()])


class CIFAR10DataModule(FileDataModule):
    """CIFAR-10, "python version": ``data_dir/cifar-10-batches-py/{data_batch_1..5, test_batch}``."""

    display_name, stats_key, num_classes, in_channels = "CIFAR-10", "cifar10", 10, 3
    folder, train_files, test_files, label_key = (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
    )
    torchvision_class = torchvision.datasets.CIFAR10

    def _required_files(self) -> list[Path]:
        return [self.data_dir / self.folder / f for f in self.train_files + self.test_files]

    def _download(self) -> None:
        self.torchvision_class(self.data_dir, train=True, download=True)
        self.torchvision_class(self.data_dir, train=False, download=True)

    def _read(self, train: bool):
        files = self.train_files if train else self.test_files
        return read_cifar_batches([self.data_dir / self.folder / f for f in files], self.label_key)

    def train_transform(self):
        return _crop_flip(32)


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100, "python version": ``data_dir/cifar-100-python/{train, test}`` (fine labels)."""

    display_name, stats_key, num_classes = "CIFAR-100", "cifar100", 100
    folder, train_files, test_files, label_key = "cifar-100-python", ["train"], ["test"], "fine_labels"
    torchvision_class = torchvision.datasets.CIFAR100


class MNISTDataModule(FileDataModule):
    """MNIST in IDX format: ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (plain or ``.gz``) in
    ``data_dir/MNIST/raw`` (the layout torchvision downloads to) or flat in ``data_dir`` itself (as
    Debian's ``dataset-fashion-mnist`` installs Fashion-MNIST). No augmentation.
    """

    display_name, stats_key, num_classes, in_channels = "MNIST", "mnist", 10, 1
    folder = "MNIST"
    torchvision_class = torchvision.datasets.MNIST

    def _paths(self, train: bool) -> tuple[Path, Path]:
        prefix = "train" if train else "t10k"
        raw = self._folder()
        return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"

    def _folder(self) -> Path:
        """``data_dir/<folder>/raw`` when it holds the four files, else ``data_dir`` when that does
        (the flat layout), else the torchvision layout (whose missing file the error names)."""
        nested = self.data_dir / self.folder / "raw"
        names = [f"{p}-{kind}-ubyte" for p in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
        for folder in (nested, self.data_dir):
            if all(idx_exists(folder / name) for name in names):
                return folder
        return nested

    def _required_files(self) -> list[Path]:
        return [*self._paths(True), *self._paths(False)]

    def _download(self) -> None:
        self.torchvision_class(self.data_dir, train=True, download=True)
        self.torchvision_class(self.data_dir, train=False, download=True)

    def _read(self, train: bool):
        images, labels = (read_idx(p) for p in self._paths(train))
        if images.dim() != 3 or images.shape[0] != labels.shape[0]:
            raise UserInputError(
                f"{self._paths(train)[0]}: expected [N, 28, 28] images matching {labels.shape[0]} labels"
            )
        return images[:, None], labels.long()


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST, the same IDX files in ``data_dir/FashionMNIST/raw`` or flat in ``data_dir``
    (Debian's ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``)."""

    display_name, stats_key, folder = "Fashion-MNIST", "fashion_mnist", "FashionMNIST"
    install_hint = "; or apt-get install dataset-fashion-mnist and use data_dir /usr/share/datasets/fashion-mnist"
    torchvision_class = torchvision.datasets.FashionMNIST


class SVHNDataModule(FileDataModule):
    """SVHN cropped digits: ``data_dir/{train,test}_32x32.mat``. No augmentation (digits)."""

    display_name, stats_key, num_classes, in_channels = "SVHN", "svhn", 10, 3

    def _required_files(self) -> list[Path]:
        return [self.data_dir / "train_32x32.mat", self.data_dir / "test_32x32.mat"]

    def _download(self) -> None:
        for split in ("train", "test"):
            torchvision.datasets.SVHN(self.data_dir, split=split, download=True)

    def _read(self, train: bool):
        return read_svhn_mat(self.data_dir / f"{'train' if train else 'test'}_32x32.mat")


class ImageFolderDataModule(FileDataModule):
    """An ImageNet-style folder tree: ``data_dir/train/<class>/*.jpg`` and ``data_dir/val/<class>/*``
    (the latter serves as the test split). Images are decoded lazily; training uses
    random-resized crops and flips, evaluation a resize to ``image_size·8/7`` and a centre crop.
    """

    display_name, stats_key, in_channels = "image folder", "imagenet", 3

    def __init__(
        self,
        data_dir: str = "data/imagenet",
        image_size: int = 224,
        val_size: float = 0.02,
        split_seed: int = 0,
        augment: bool = True,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 4,
    ) -> None:
        super().__init__(data_dir, False, val_size, split_seed, augment, batch_size, eval_batch_size, num_workers)
        self.image_size = image_size

    def _required_files(self) -> list[Path]:
        return [self.data_dir / "train", self.data_dir / "val"]

    @property
    def classes(self) -> list[str]:
        self._check_present()
        return sorted(p.name for p in (self.data_dir / "train").iterdir() if p.is_dir())

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return len(self.classes)

    def _build_splits(self) -> Splits:
        self._check_present()
        classes = self.classes
        val_classes = sorted(p.name for p in (self.data_dir / "val").iterdir() if p.is_dir())
        if val_classes != classes:
            raise UserInputError(
                f"{self.data_dir}/val has {len(val_classes)} class folders but train has {len(classes)}: "
                "both need the same class folders"
            )
        to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        eval_tf = v2.Compose([v2.Resize(int(self.image_size * 8 / 7)), v2.CenterCrop(self.image_size), *to_tensor])
        train_tf = v2.Compose([v2.RandomResizedCrop(self.image_size), v2.RandomHorizontalFlip(), *to_tensor])
        folder = torchvision.datasets.ImageFolder
        plain = DictDataset(folder(self.data_dir / "train", transform=eval_tf))
        augmented = DictDataset(folder(self.data_dir / "train", transform=train_tf if self.augment else eval_tf))
        train, val = self._carve(plain, augmented)
        return Splits(train=train, val=val, test=DictDataset(folder(self.data_dir / "val", transform=eval_tf)))
