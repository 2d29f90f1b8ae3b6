"""benchmarks/mnist_test_split.py: MNIST's test file split into disjoint training and held-out IDX files."""

import runpy
import sys

import pytest
import torch

from lightning_pse.data import MNISTDataModule
from lightning_pse.data.readers import read_idx

from helpers import REPO, write_mnist

SCRIPT = REPO / "benchmarks" / "mnist_test_split.py"


def split(source, out, num_train, monkeypatch) -> str:
    """Runs the script in-process; returns its error message ("" when it succeeded)."""
    argv = [str(SCRIPT), "--source", str(source), "--out", str(out), "--num-train", str(num_train)]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    except SystemExit as stop:
        return str(stop.code)
    return ""


def test_split_is_disjoint_in_order_and_readable_by_the_datamodule(tmp_path, monkeypatch):
    test_images, test_labels = write_mnist(tmp_path / "src", "MNIST", n_train=4, n_test=30, compress=True)["t10k"]
    assert split(tmp_path / "src" / "MNIST" / "raw", tmp_path / "out", 20, monkeypatch) == ""
    raw = tmp_path / "out" / "MNIST" / "raw"
    assert torch.equal(read_idx(raw / "train-images-idx3-ubyte"), torch.from_numpy(test_images[:20]))
    assert torch.equal(read_idx(raw / "t10k-images-idx3-ubyte"), torch.from_numpy(test_images[20:]))
    assert torch.equal(read_idx(raw / "train-labels-idx1-ubyte"), torch.from_numpy(test_labels[:20]))
    assert torch.equal(read_idx(raw / "t10k-labels-idx1-ubyte"), torch.from_numpy(test_labels[20:]))
    data = MNISTDataModule(data_dir=str(tmp_path / "out"), val_size=5, batch_size=4)
    assert [len(data.split(name)) for name in ("train", "val", "test")] == [15, 5, 10]


@pytest.mark.parametrize(
    ("case", "message"),
    [("existing output", "exists"), ("all images for training", "--num-train"), ("no source", "no MNIST test file")],
)
def test_refuses_bad_requests_and_writes_nothing(tmp_path, monkeypatch, case, message):
    write_mnist(tmp_path / "src", "MNIST", n_train=4, n_test=30)
    source, out, num_train = tmp_path / "src" / "MNIST" / "raw", tmp_path / "out", 20
    raw = out / "MNIST" / "raw"
    if case == "existing output":
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte").write_bytes(b"theirs")
    elif case == "all images for training":
        num_train = 30
    else:
        source = tmp_path / "nowhere"
    error = split(source, out, num_train, monkeypatch)
    assert error.startswith("error:") and message in error
    assert sorted(p.name for p in raw.glob("*")) == (["train-images-idx3-ubyte"] if case == "existing output" else [])
    if case == "existing output":
        assert (raw / "train-images-idx3-ubyte").read_bytes() == b"theirs"
