import pytest
import torch

from lightning_pse.errors import UnknownNameError
from lightning_pse.models import available_models, build_model

OWN_MODELS = [
    "small_cnn",
    "resnet18_cifar",
    "resnet34_cifar",
    "resnet50_cifar",
    "preact_resnet18",
    "wrn_28_10",
    "wrn_34_10",
    "vgg16_bn",
]
TORCHVISION_SAMPLE = [
    "tv_resnet18",
    "tv_resnext50_32x4d",
    "tv_efficientnet_b0",
    "tv_mobilenet_v2",
    "tv_shufflenet_v2_x0_5",
    "tv_regnet_x_400mf",
]


def _features_and_logits(model, x):
    captured = {}
    handle = model.feature_layer.register_forward_hook(lambda m, i, out: captured.setdefault("f", out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return captured["f"], logits


def _check_cam_decomposition(model, x, num_classes):
    features, logits = _features_and_logits(model, x)
    assert logits.shape == (x.shape[0], num_classes)
    assert features.dim() == 4 and features.shape[1] == model.classifier.in_features
    cam = torch.einsum("ck,bkhw->bchw", model.classifier.weight, features)
    torch.testing.assert_close(cam.mean(dim=(2, 3)), logits - model.classifier.bias, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", OWN_MODELS)
def test_cifar_models_forward_and_cam_identity(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7).eval()
    with torch.no_grad():
        _check_cam_decomposition(model, torch.rand(2, 3, 32, 32), 7)


@pytest.mark.parametrize("name", ["small_cnn", "resnet18_cifar", "preact_resnet18"])
def test_grayscale_models(name):
    model = build_model(name, num_classes=10, in_channels=1, mean=(0.13,), std=(0.31,)).eval()
    with torch.no_grad():
        _check_cam_decomposition(model, torch.rand(2, 1, 28, 28), 10)


@pytest.mark.parametrize("name", TORCHVISION_SAMPLE)
def test_torchvision_models_forward_and_cam_identity(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=5, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)).eval()
    with torch.no_grad():
        _check_cam_decomposition(model, torch.rand(2, 3, 64, 64), 5)


def test_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    mean, std = (0.2, 0.4, 0.6), (0.5, 0.25, 0.125)
    model = build_model("small_cnn", 10, mean=mean, std=std).eval()
    plain = build_model("small_cnn", 10).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("normalize.")}, strict=False)
    x = torch.rand(3, 3, 32, 32)
    normalised = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(normalised))
    assert "normalize.mean" in model.state_dict() and "normalize.std" in model.state_dict()


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownNameError) as err:
        build_model("resnet_19", 10)
    message = str(err.value)
    assert "resnet_19" in message and "small_cnn" in message and "tv_resnet50" in message
    assert "\n" not in message


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="in_channels"):
        build_model("small_cnn", 10, in_channels=1, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="6n\\+4"):
        build_model("wrn_28_10", 10, depth=27)
    with pytest.raises(ValueError, match="3-channel"):
        build_model("tv_resnet18", 10, in_channels=1)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("small_cnn", 0)


def test_registry_lists_every_family():
    names = available_models()
    assert set(OWN_MODELS) <= set(names)
    assert set(TORCHVISION_SAMPLE) <= set(names)
    assert "tv_vgg16" not in names, "MLP heads have no exact CAM and are not offered"
