"""Data: the synthetic benchmark with ground truth, real-dataset modules, probe subsets."""

from .datamodules import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    FileDataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    SVHNDataModule,
    SyntheticDataModule,
)
from .datasets import TensorImageDataset, unpack_batch
from .given import GivenDataModule, as_datamodule
from .normalization import DATASET_STATS
from .probe import private_generator, probe_indices, shard_batches, shard_loader
from .synthetic import COLOR_NAMES, SHAPES, TEXTURES, SyntheticShapes, generate_shapes

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "COLOR_NAMES",
    "DATASET_STATS",
    "FashionMNISTDataModule",
    "FileDataModule",
    "GivenDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "SHAPES",
    "SVHNDataModule",
    "SyntheticDataModule",
    "SyntheticShapes",
    "TEXTURES",
    "TensorImageDataset",
    "as_datamodule",
    "generate_shapes",
    "private_generator",
    "probe_indices",
    "shard_batches",
    "shard_loader",
    "unpack_batch",
]
