"""Readers for the datasets' own on-disk formats, returning ``uint8 [N, C, H, W]`` and ``int64 [N]``.

torchvision's dataset classes verify MD5 sums of the full files and so refuse any other file; these
readers take the same formats at any size (the tests write tiny files), and torchvision is used only
to download. The CIFAR reader unpickles with an allow-list, so a crafted batch file cannot run code.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import UserInputError

_CIFAR_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "bytes"),
    ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _CIFAR_ALLOWED:
            raise UserInputError(f"refusing to unpickle {module}.{name}: not a CIFAR batch file")
        return super().find_class(module, name)


def read_cifar_batches(files: list[Path], label_key: str) -> tuple[Tensor, Tensor]:
    """CIFAR-10/100 "python version" batches: pickled dicts with ``b"data"`` ``[N, 3072]`` uint8
    (channel-major 32×32 planes) and ``label_key`` (``b"labels"`` or ``b"fine_labels"``).
    """
    images, labels = [], []
    for path in files:
        with open(path, "rb") as f:
            try:
                entry = _AllowListUnpickler(f, encoding="bytes").load()
            except (pickle.UnpicklingError, EOFError) as err:
                raise UserInputError(f"{path} is not a readable CIFAR batch file ({err})") from None
        images.append(np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(entry[label_key.encode()], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _open_maybe_gz(path: Path):
    if path.exists():
        return open(path, "rb")
    return gzip.open(path.with_name(path.name + ".gz"), "rb")


def read_idx(path: Path) -> Tensor:
    """An IDX file (MNIST, Fashion-MNIST), plain or with ``.gz`` appended: a big-endian header
    (two zero bytes, type code 0x08 = uint8, number of dims, then one uint32 per dim) and the data.
    """
    with _open_maybe_gz(path) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserInputError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserInputError(f"{path} is truncated: header promises {tuple(dims)} bytes, found {data.size}")
    return torch.from_numpy(data.reshape(tuple(dims)).copy())


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """``array`` (uint8, any shape) as an IDX file, the inverse of :func:`read_idx`; gzipped to
    ``path.gz`` when ``compress``. The tests and ``benchmarks/mnist_test_split.py`` write with it."""
    header = bytes((0, 0, 0x08, array.ndim)) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def idx_exists(path: Path) -> bool:
    return path.exists() or path.with_name(path.name + ".gz").exists()


def read_svhn_mat(path: Path) -> tuple[Tensor, Tensor]:
    """SVHN cropped digits (``*_32x32.mat``): ``X`` ``[32, 32, 3, N]`` uint8, ``y`` ``[N, 1]`` with
    the digit 0 stored as label 10 (mapped back to 0 here).
    """
    from scipy.io import loadmat

    mat = loadmat(path)
    images = torch.from_numpy(np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1)))
    labels = torch.from_numpy(mat["y"].astype(np.int64).reshape(-1)) % 10
    return images, labels
