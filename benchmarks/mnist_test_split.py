"""MNIST for the PSE-AT study when only MNIST's test file is at hand: split its 10 000 images into
a training part and a held-out part, written as the four IDX files ``MNISTDataModule`` reads.

    python benchmarks/mnist_test_split.py --source /path/to/MNIST/raw --out data/mnist_test_split \\
        [--num-train 8000]

The first ``--num-train`` images become ``train-*``, the rest ``t10k-*`` (under
``--out/MNIST/raw``); no image is in both. This is a stand-in for MNIST's 60 000 training images,
not its standard protocol: numbers measured on it are comparable with each other, not with
published MNIST results. With the real files, point ``--data-dir`` at them instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_pse.data.readers import idx_exists, read_idx, write_idx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with t10k-{images-idx3,labels-idx1}-ubyte")
    parser.add_argument("--out", type=Path, required=True, help="data dir to write (MNIST/raw inside)")
    parser.add_argument("--num-train", type=int, default=8000)
    args = parser.parse_args()
    images_path, labels_path = args.source / "t10k-images-idx3-ubyte", args.source / "t10k-labels-idx1-ubyte"
    if not (idx_exists(images_path) and idx_exists(labels_path)):
        raise SystemExit(f"error: no MNIST test file in {args.source} (t10k-images-idx3-ubyte[.gz] and labels)")
    images, labels = read_idx(images_path).numpy(), read_idx(labels_path).numpy()
    if not 0 < args.num_train < len(labels):
        raise SystemExit(f"error: --num-train must lie in 1..{len(labels) - 1}")
    raw = args.out / "MNIST" / "raw"
    if raw.exists():
        raise SystemExit(f"error: {raw} exists; choose another --out or remove it")
    raw.mkdir(parents=True)
    parts = {"train": slice(0, args.num_train), "t10k": slice(args.num_train, None)}
    for prefix, part in parts.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images[part])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[part])
    print(f"{raw}: {args.num_train} training and {len(labels) - args.num_train} held-out images")


if __name__ == "__main__":
    main()
