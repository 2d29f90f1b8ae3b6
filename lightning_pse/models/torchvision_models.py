"""torchvision ImageNet architectures, rearranged into ``ImageClassifier``'s normalise → body →
GAP → linear shape so CAM and dissection work on them like on our own models.

Only families whose head is global average pooling followed by one linear layer (dropout allowed)
are accepted: there CAM is exact. VGG and AlexNet (MLP heads), ConvNeXt (LayerNorm after pooling)
and MobileNet-V3 (hidden layer in the head) are not.
"""

from __future__ import annotations

import torchvision
from torch import nn

# family prefix -> function(model) -> (body, feature_layer, classifier, dropout)
_ADAPTERS = {
    "resnet": lambda m: (
        nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4),
        m.layer4,
        m.fc,
        0.0,
    ),
    "regnet": lambda m: (nn.Sequential(m.stem, m.trunk_output), m.trunk_output, m.fc, 0.0),
    "efficientnet": lambda m: (m.features, m.features, m.classifier[1], m.classifier[0].p),
    "mobilenet_v2": lambda m: (m.features, m.features, m.classifier[1], m.classifier[0].p),
    "shufflenet": lambda m: (
        nn.Sequential(m.conv1, m.maxpool, m.stage2, m.stage3, m.stage4, m.conv5),
        m.conv5,
        m.fc,
        0.0,
    ),
}
_FAMILY_OF_PREFIX = {
    "resnet": "resnet",
    "resnext": "resnet",
    "wide_resnet": "resnet",
    "regnet": "regnet",
    "efficientnet": "efficientnet",
    "mobilenet_v2": "mobilenet_v2",
    "shufflenet": "shufflenet",
}


def supported_torchvision_models() -> list[str]:
    """torchvision classification models whose head is GAP + linear (see module docstring)."""
    names = torchvision.models.list_models(module=torchvision.models)
    return sorted(n for n in names if any(n.startswith(p) for p in _FAMILY_OF_PREFIX))


def torchvision_parts(
    name: str, num_classes: int, weights: str | None = None, state_dict: dict | None = None
) -> tuple[nn.Module, nn.Module, nn.Linear, float]:
    """Build torchvision model ``name`` and return ``(body, feature_layer, classifier, dropout)``.

    ``weights`` is passed to ``torchvision.models.get_model`` (e.g. ``"DEFAULT"``, which downloads);
    pretrained weights keep their 1000-class head, so then ``num_classes`` must be 1000.
    ``state_dict``: local weights in torchvision's own key layout (``conv1.weight``, ``fc.bias``, ...),
    loaded strictly before the model is rearranged.
    """
    family = next(f for p, f in _FAMILY_OF_PREFIX.items() if name.startswith(p))
    model = torchvision.models.get_model(name, weights=weights, num_classes=num_classes)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return _ADAPTERS[family](model)
