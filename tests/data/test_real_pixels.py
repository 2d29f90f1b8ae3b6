"""Real pixels in the tests: the 20 CIFAR-10 and 20 ImageNet images that ship inside the ``foolbox``
wheel (a test dependency, read where it is installed; nothing is copied into the repository) go
through the CIFAR reader and through every analysis section at CIFAR and ImageNet sizes, so the
real-data paths meet real image statistics, not only random tensors."""

from pathlib import Path

import foolbox  # a test dependency (the dev extra): its wheel carries the real images
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as F

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import PGD
from lightning_pse.data import DATASET_STATS, CIFAR10DataModule
from lightning_pse.dissect import DissectionSettings
from lightning_pse.models import build_model

from helpers import write_cifar

FOOLBOX_DATA = Path(foolbox.__file__).parent / "data"
SECTIONS = ["robustness", "pse", "cam", "dissection"]


def real_images(prefix: str, side: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images [20, 3, H, W] in [0, 1], labels [20])`` of foolbox's ``<prefix>_<i>_<label>`` files;
    ``side``: resized (shorter side ``side · 8/7``) and centre-cropped to ``side`` px, as ImageNet
    evaluations do."""
    paths = sorted(FOOLBOX_DATA.glob(f"{prefix}_*"))
    assert len(paths) == 20, paths
    images = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in paths]
    if side is not None:
        images = [F.center_crop(F.resize(image, side * 8 // 7, antialias=True), side) for image in images]
    labels = [int(p.stem.rsplit("_", 1)[1]) for p in paths]
    return torch.stack(images).float() / 255, torch.tensor(labels)


def light_settings(eps: float) -> dict:
    return {
        "attacks": {"pgd": PGD(eps=eps, steps=3, seed=0)},
        "pse_attacks": {"pgd": PGD(eps=eps, steps=3, targeted=True, seed=0)},
        "sensitivity_attack": PGD(eps=eps, steps=1, seed=0),
        "dissection": DissectionSettings(num_concept_images=8),
        "num_samples": None,
        "progress": "lines",
    }


def test_cifar_reader_reads_a_batch_file_written_from_real_images(tmp_path):
    images, labels = real_images("cifar10")
    rows = (images * 255).round().to(torch.uint8).flatten(1).numpy()  # [20, 3·32·32], plane by plane
    write_cifar(tmp_path, 20, 10, labels=labels.tolist(), data=rows)
    data = CIFAR10DataModule(data_dir=str(tmp_path), val_size=4, augment=False)
    test = data.split("test")
    read = torch.stack([test[i]["image"] for i in range(len(test))])
    assert torch.equal(read, images), "the reader gives back the PNGs' pixels, channel planes in order"
    assert [int(test[i]["label"]) for i in range(len(test))] == labels.tolist()
    assert read.mean(dim=(0, 2, 3)).sub(torch.tensor(data.mean)).abs().max() < 0.15, "CIFAR-like statistics"


def check_report(report: dict, num_images: int) -> None:
    assert report["num_samples"] == num_images
    assert 0.0 <= report["clean_accuracy"] <= 1.0
    assert report["dissection"]["num_probe_images"] == num_images
    assert set(report["findings"]) >= {"perturbation_types", "cam_regions", "sensitive_units"}
    assert report["figure_errors"] == []


def test_every_section_on_real_cifar_images():
    images, labels = real_images("cifar10")
    torch.manual_seed(0)
    model = build_model("resnet18_cifar", 10, mean=DATASET_STATS["cifar10"][0], std=DATASET_STATS["cifar10"][1])
    report = evaluate(model, (images, labels), SECTIONS, **light_settings(8 / 255))
    check_report(report, 20)


@pytest.mark.slow
def test_every_section_on_real_imagenet_images_with_torchvision_resnet18():
    images, labels = real_images("imagenet", side=224)
    assert images.shape[-2:] == (224, 224)
    torch.manual_seed(0)
    model = build_model("tv_resnet18", 1000)  # random weights: no download
    report = evaluate(model, (images[:4], labels[:4]), SECTIONS, **light_settings(4 / 255))
    check_report(report, 4)
    assert report["settings"]["cam"]["method"] in ("cam", "grad_cam")
