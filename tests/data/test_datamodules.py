"""Every loader on tiny files written in the dataset's real on-disk format."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_pse.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    SVHNDataModule,
    SyntheticDataModule,
)
from lightning_pse.data.readers import read_idx, write_idx
from lightning_pse.errors import DatasetNotFoundError, UserInputError

from helpers import REPO, write_cifar, write_mnist

SHARED_MNIST = REPO.parent / "shared" / "data" / "MNIST" / "raw"


def _rng(seed=0):
    return np.random.default_rng(seed)


def _check_splits(dm, n_train_total, n_test, shape):
    dm.setup()
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert len(train) + len(val) == n_train_total and len(test) == n_test
    assert set(train.indices).isdisjoint(val.indices)
    batch = next(iter(dm.val_dataloader()))
    assert batch["image"].shape[1:] == shape and batch["image"].dtype == torch.float32
    assert 0 <= batch["image"].min() and batch["image"].max() <= 1
    assert batch["label"].dtype == torch.int64
    return train, val, test


def test_cifar10_reads_pickled_batches(tmp_path):
    written = write_cifar(tmp_path, 8, 10)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), val_size=0.25, batch_size=4)
    train, val, test = _check_splits(dm, 40, 8, (3, 32, 32))
    data, labels = written["test_batch"]
    item = test[2]
    expected = torch.from_numpy(data[2].reshape(3, 32, 32)).float() / 255
    assert torch.equal(item["image"], expected) and int(item["label"]) == labels[2]
    assert dm.num_classes == 10 and dm.in_channels == 3 and len(dm.mean) == 3
    # Validation is never augmented; training is (crop + flip changes pixels).
    val_item = val[0]
    source = (
        torch.from_numpy(
            written[f"data_batch_{val.indices[0] // 8 + 1}"][0][val.indices[0] % 8].reshape(3, 32, 32)
        ).float()
        / 255
    )
    assert torch.equal(val_item["image"], source)
    torch.manual_seed(0)
    assert any(
        not torch.equal(train[0]["image"], train.dataset.images[train.indices[0]].float() / 255) for _ in range(5)
    )


def test_validation_split_is_fixed_by_seed(tmp_path):
    write_cifar(tmp_path, 10, 10)
    a = CIFAR10DataModule(data_dir=str(tmp_path), val_size=12, split_seed=1)
    b = CIFAR10DataModule(data_dir=str(tmp_path), val_size=12, split_seed=1)
    c = CIFAR10DataModule(data_dir=str(tmp_path), val_size=12, split_seed=2)
    assert a.split("val").indices == b.split("val").indices != c.split("val").indices
    assert len(a.split("val")) == 12


def test_cifar100_fine_labels(tmp_path):
    written = write_cifar(tmp_path, 20, 100, cifar100=True)
    dm = CIFAR100DataModule(data_dir=str(tmp_path), val_size=0.2)
    _, _, test = _check_splits(dm, 20, 20, (3, 32, 32))
    assert dm.num_classes == 100
    assert [int(test[i]["label"]) for i in range(20)] == written["test"][1]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("module, folder", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_mnist_family_reads_idx(tmp_path, module, folder, compress):
    arrays = write_mnist(tmp_path, folder, 30, 12, compress)
    dm = module(data_dir=str(tmp_path), val_size=6)
    _, _, test = _check_splits(dm, 30, 12, (1, 28, 28))
    images, labels = arrays["t10k"]
    assert torch.equal(test[5]["image"][0], torch.from_numpy(images[5]).float() / 255)
    assert int(test[5]["label"]) == labels[5]


def test_fashion_mnist_reads_the_flat_layout_debian_installs(tmp_path):
    """The four (gzipped) IDX files directly in data_dir, as /usr/share/datasets/fashion-mnist holds them."""
    arrays = write_mnist(tmp_path, "staging", 30, 12, compress=True)
    flat = tmp_path / "fashion-mnist"
    (tmp_path / "staging" / "raw").rename(flat)
    assert sorted(p.name for p in flat.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    _, _, test = _check_splits(FashionMNISTDataModule(data_dir=str(flat), val_size=6), 30, 12, (1, 28, 28))
    images, labels = arrays["t10k"]
    assert torch.equal(test[3]["image"][0], torch.from_numpy(images[3]).float() / 255)
    assert int(test[3]["label"]) == labels[3]


def test_a_missing_fashion_mnist_names_both_layouts_and_the_debian_package(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        FashionMNISTDataModule(data_dir=str(tmp_path)).setup()
    message = str(err.value)
    assert "FashionMNIST/raw/train-images-idx3-ubyte" in message and "apt-get install dataset-fashion-mnist" in message
    assert "\n" not in message


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="the shared MNIST test files are not beside this checkout")
def test_real_mnist_test_files_read():
    images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte")
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert set(labels.unique().tolist()) == set(range(10))


def test_truncated_idx_is_refused(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, np.zeros((4, 28, 28), np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserInputError, match="truncated"):
        read_idx(path)


def test_svhn_reads_mat_files(tmp_path):
    from scipy.io import savemat

    for split, n in (("train", 20), ("test", 7)):
        rng = _rng(n)
        savemat(
            tmp_path / f"{split}_32x32.mat",
            {
                "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                "y": np.array([[10]] + [[int(v)] for v in rng.integers(1, 11, n - 1)], dtype=np.uint8),
            },
        )
    dm = SVHNDataModule(data_dir=str(tmp_path), val_size=5)
    _, _, test = _check_splits(dm, 20, 7, (3, 32, 32))
    assert int(test[0]["label"]) == 0, "SVHN stores digit 0 as label 10"


def test_image_folder(tmp_path):
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("ant", "bee", "cat"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_rng(i).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    dm = ImageFolderDataModule(data_dir=str(tmp_path), image_size=32, val_size=3, num_workers=0, batch_size=4)
    assert dm.num_classes == 3 and dm.classes == ["ant", "bee", "cat"]
    _, _, test = _check_splits(dm, 18, 6, (3, 32, 32))
    assert sorted(int(test[i]["label"]) for i in range(6)) == [0, 0, 1, 1, 2, 2]


def test_missing_dataset_says_where_and_how(tmp_path):
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError) as err:
        dm.setup()
    message = str(err.value)
    assert "nowhere" in message and "download=true" in message and "\n" not in message
    with pytest.raises(DatasetNotFoundError):
        ImageFolderDataModule(data_dir=str(tmp_path / "nowhere")).num_classes


def test_labels_out_of_range_are_refused(tmp_path):
    write_cifar(tmp_path, 4, 10, labels=[0, 1, 2, 12])
    with pytest.raises(UserInputError, match="labels in \\[0, 12\\]"):
        CIFAR10DataModule(data_dir=str(tmp_path), val_size=2).setup()


def test_malicious_cifar_pickle_does_not_run(tmp_path):
    write_cifar(tmp_path, 4, 10)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Exploit()}, f)
    with pytest.raises(UserInputError, match="refusing to unpickle"):
        CIFAR10DataModule(data_dir=str(tmp_path), val_size=2).setup()
    assert not marker.exists()


def test_synthetic_datamodule_splits_and_probe_set():
    dm = SyntheticDataModule(num_train=64, num_val=32, num_test=16, batch_size=8)
    assert dm.num_classes == 10 and dm.in_channels == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32)
    assert len(dm.split("val")) == 32 and len(dm.split("test")) == 16
    val_labels = torch.stack([dm.split("val")[i]["distractor_label"] for i in range(32)])
    assert (val_labels >= 0).all(), "evaluation splits always carry a distractor by default"
    probe_a, probe_b = dm.probe_set(10, seed=3), dm.probe_set(10, seed=3)
    assert probe_a.indices == probe_b.indices and len(probe_a) == 10
    assert not torch.equal(dm.split("train")[0]["image"], dm.split("val")[0]["image"])
