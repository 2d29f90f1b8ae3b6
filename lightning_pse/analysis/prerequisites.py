"""Each section's prerequisites, checked when an ``engine.Analysis`` is built, before any work.

``prepare_<section>(analysis)`` raises a one-line ``UserInputError`` for what would make the
section fail later (an attack that needs more classes, AutoAttack on too few, a layer the model
lacks, a missing Broden folder, a one-process section spread over several) and sets on the
analysis what the section is built from (the resolved CAM settings, the dissection layer, the
concept probe set, the masking curve's ranking images). ``registry.REGISTRY`` names each section's
function; ``Analysis.__init__`` calls those of the requested sections, in report order.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ..dissect import concept_probe_set
from ..errors import UserInputError
from ..models.capture import resolve_layer
from ..sections.autoattack import check_autoattack


def prepare_robustness(analysis) -> None:
    """The robustness attacks handle the model's class count; so does AutoAttack when it runs."""
    for attack in analysis.attacks.values():
        attack.check_classes(analysis.num_classes)
    if analysis.robustness == "autoattack":
        check_autoattack(analysis.num_classes)


def prepare_pse(analysis) -> None:
    """The PSE attacks handle the model's class count."""
    for attack in analysis.pse_attacks.values():
        attack.check_classes(analysis.num_classes)


def prepare_cam(analysis) -> None:
    """The PSE attacks handle the model's class count; ``analysis.cam`` becomes the settings CAM
    runs with: CAM on GAP + linear models at their feature layer, Grad-CAM otherwise (the report
    says which), at ``cam.layer`` or the analysis's layer, checked."""
    prepare_pse(analysis)
    cam, model = analysis.cam, analysis.model
    layer = cam.layer or analysis.layer
    if layer is not None:
        resolve_layer(model, layer)
    at_feature_layer = layer is None or resolve_layer(model, layer) is getattr(model, "feature_layer", None)
    method = "grad_cam" if cam.method == "cam" and not (has_cam_head(model) and at_feature_layer) else cam.method
    analysis.cam = replace(cam, method=method, layer=layer)


def has_cam_head(model: nn.Module) -> bool:
    """Whether CAM applies: a declared feature layer pooled into one linear classifier."""
    return isinstance(getattr(model, "classifier", None), nn.Linear) and hasattr(model, "feature_layer")


def prepare_dissection(analysis) -> None:
    """The dissection layer exists; label stability runs in one process; the concept probe set is
    built (a missing Broden folder fails here)."""
    settings = analysis.dissection
    resolve_dissection_layer(analysis)
    if settings.stability_draws and analysis.devices * analysis.num_nodes > 1:
        raise UserInputError("label stability (--dissection.stability_draws) runs in one process: use --devices 1")
    channels, size = analysis.image_shape[0], analysis.image_shape[-1]
    analysis.concepts = concept_probe_set(
        analysis.data,
        settings.num_concept_images,
        settings.broden_dir,
        settings.broden_categories,
        size,
        channels,
        probe=settings.probe,
    )


def prepare_masking(analysis) -> None:
    """Masking runs in one process, masks the dissection layer, and ranks the units on another split
    than the one its curve is measured on (``val`` for ``test``, else ``test``)."""
    if analysis.devices * analysis.num_nodes > 1:
        raise UserInputError(
            "the masking section runs in one process: drop masking from the sections or run with --devices 1"
        )
    resolve_dissection_layer(analysis)
    analysis.ranking_split = "val" if analysis.split == "test" else "test"
    analysis.ranking_probe = analysis.data.probe_set(
        analysis.num_samples, split=analysis.ranking_split, seed=analysis.seed
    )


def resolve_dissection_layer(analysis) -> None:
    """``analysis.dissection_layer``: ``dissection.layer`` checked, else the analysis's layer (the
    dissection and masking sections dissect and mask the same one)."""
    analysis.dissection_layer = analysis.resolve_layer(analysis.dissection.layer) or analysis.layer
