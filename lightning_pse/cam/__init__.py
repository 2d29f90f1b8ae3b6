"""Image level: class activation maps, adversarial saliency and CAM agreement (``docs/method.md`` §2).

``cam``, ``grad_cam``, ``grad_cam_pp``: ``f(model, x, classes, layer=None) -> [B, H, W]`` in [0, 1].
"""

from .agreement import (
    CAMAgreement,
    GuidedAttack,
    cam_agreement,
    cam_guided_attack,
    cam_method,
    class_region,
    localization,
    other_class,
)
from .methods import CAM_METHODS, cam, class_activation_map, grad_cam, grad_cam_pp
from .regions import binarize, interpretability_score, iou, pointing_game, shifted_regions
from .saliency import adversarial_saliency, saliency_agreement, saliency_region
from .settings import DEFAULT_CAM, CAMSettings

__all__ = [
    "DEFAULT_CAM",
    "CAMSettings",
    "CAMAgreement",
    "CAM_METHODS",
    "GuidedAttack",
    "adversarial_saliency",
    "binarize",
    "cam",
    "cam_agreement",
    "cam_guided_attack",
    "cam_method",
    "class_activation_map",
    "class_region",
    "grad_cam",
    "grad_cam_pp",
    "interpretability_score",
    "iou",
    "localization",
    "other_class",
    "pointing_game",
    "saliency_agreement",
    "saliency_region",
    "shifted_regions",
]
