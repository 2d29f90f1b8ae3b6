"""Promotion and suppression of each pixel group as estimated by captum's attribution methods, so
that they can be set beside ``effects.py``'s estimators on the same perturbation (the attribution
benchmark, ``benchmarks/attribution_groundtruth.py``).

Each method attributes the change of the two logits the PSE analysis measures, ``Z_t`` (target)
and ``Z_t0`` (true class), between ``x`` and ``x' = x + δ`` to the pixels; a group's promotion
``P_G`` is its share of ``Z_t``'s rise and its suppression ``S_G`` its share of ``Z_t0``'s fall,
so the same categories (``categories.categorize``) apply to every method:

- ``integrated_gradients``: ``(x' − x) · ∫₀¹ ∇Z(x + α δ) dα`` (Gauss–Legendre, ``n_steps``),
  summed over the group; the groups' sum is the whole change (completeness).
- ``deeplift``: DeepLIFT's rescale rule from the baseline ``x`` to the input ``x'``, summed over the group.
- ``gradient_shap``: ``(x' − x) · E_α[∇Z(x + α δ)]`` at ``n_samples`` random points α ~ U(0, 1)
  of the path (baseline ``x``, no noise), summed over the group.
- ``occlusion``: ``Z(x') − Z(x' − δ_G)``, the logit's change when the group's perturbation is taken
  back (windows = the groups).
- ``saliency_x_delta``: ``∇Z(x) · δ`` summed over the group: the first-order ``gradient``
  estimator computed through captum.
- ``feature_ablation``: ``Z(x + δ_G) − Z(x)``, captum's ablation with the input ``x`` and the
  baseline ``x'`` on the group mask: the exact ``ablation`` estimator computed through captum.

captum is an optional dependency (``pip install lightning_pse[attribution]``); nothing else in the
project imports this module.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UserInputError
from ..groups import GroupGrid
from ..models.state import eval_mode

ATTRIBUTION_METHODS = (
    "integrated_gradients",
    "deeplift",
    "gradient_shap",
    "occlusion",
    "saliency_x_delta",
    "feature_ablation",
)


def attribution_effects(
    method: str,
    model: nn.Module,
    x: Tensor,
    delta: Tensor,
    y: Tensor,
    target: Tensor,
    grid: GroupGrid,
    n_steps: int = 32,
    n_samples: int = 16,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """``(P, S)``, each ``[B, G]``, of ``method`` (one of ``ATTRIBUTION_METHODS``) for images ``x``
    ``[B, C, H, W]``, perturbations ``delta`` (same shape), true labels ``y`` and targets ``target``
    ``[B]``. ``n_steps``: integrated gradients' points; ``n_samples``: GradientShap's path samples
    (drawn from ``seed``). The model runs in eval mode and is left as it was."""
    if method not in ATTRIBUTION_METHODS:
        raise UserInputError(f"unknown attribution method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}")
    try:
        import captum.attr  # noqa: F401
    except ImportError as err:
        raise UserInputError("the attribution methods need captum: pip install 'lightning_pse[attribution]'") from err
    if method in ("occlusion", "feature_ablation") and grid.step != grid.size:
        raise UserInputError(
            f"{method} takes non-overlapping groups (their windows): set the stride to the group size {grid.size}"
        )
    x, delta = x.detach(), delta.detach()
    with eval_mode(model), torch.enable_grad():
        if method == "deeplift":
            # DeepLIFT hooks every non-linearity; an in-place ReLU would overwrite what its hook
            # needs, so it runs on a copy whose ReLUs are not in place (the model itself is untouched).
            model = _without_inplace(model)
        attribute = _ATTRIBUTIONS[method]
        with _seeded_global_streams(seed, x.device):
            promotion = attribute(model, x, delta, target.long(), grid, n_steps=n_steps, n_samples=n_samples)
        with _seeded_global_streams(seed, x.device):
            suppression = -attribute(model, x, delta, y.long(), grid, n_steps=n_steps, n_samples=n_samples)
    return promotion.detach(), suppression.detach()


def _pixel_sum(grid: GroupGrid, attribution: Tensor) -> Tensor:
    """``[B, C, H, W]`` pixel attributions → ``[B, G]``: their sum over each group."""
    return grid.unfold(attribution).sum(dim=2)


def _group_value(grid: GroupGrid, attribution: Tensor) -> Tensor:
    """``[B, C, H, W]`` attributions that hold one value per group (occlusion and ablation with
    windows = groups) → ``[B, G]``: that value."""
    return grid.unfold(attribution).mean(dim=2)


def _integrated_gradients(model, x, delta, label, grid, n_steps, **_) -> Tensor:
    from captum.attr import IntegratedGradients

    attribution = IntegratedGradients(model).attribute(x + delta, baselines=x, target=label, n_steps=n_steps)
    return _pixel_sum(grid, attribution)


def _deeplift(model, x, delta, label, grid, **_) -> Tensor:
    from captum.attr import DeepLift

    inputs = (x + delta).requires_grad_(True)
    with warnings.catch_warnings():  # captum announces the hooks it sets on our copy and removes again
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
        return _pixel_sum(grid, DeepLift(model).attribute(inputs, baselines=x, target=label))


def _gradient_shap(model, x, delta, label, grid, n_samples, **_) -> Tensor:
    from captum.attr import GradientShap

    shap = GradientShap(model)
    # One baseline per image: captum pairs each input with a draw from the baselines, so the images
    # go one at a time (each with its own clean image as the baseline).
    attribution = torch.cat(
        [
            shap.attribute(
                x[i : i + 1] + delta[i : i + 1], baselines=x[i : i + 1], target=label[i : i + 1], n_samples=n_samples
            )
            for i in range(x.shape[0])
        ]
    )
    return _pixel_sum(grid, attribution)


def _occlusion(model, x, delta, label, grid, **_) -> Tensor:
    from captum.attr import Occlusion

    window = (x.shape[1], grid.size, grid.size)
    attribution = Occlusion(model).attribute(
        x + delta,
        sliding_window_shapes=window,
        strides=(x.shape[1], grid.step, grid.step),
        baselines=x,
        target=label,
        perturbations_per_eval=64,
    )
    return _group_value(grid, attribution)


def _saliency_x_delta(model, x, delta, label, grid, **_) -> Tensor:
    from captum.attr import Saliency

    gradient = Saliency(model).attribute(x.clone().requires_grad_(True), target=label, abs=False)
    return _pixel_sum(grid, gradient * delta)


def _feature_ablation(model, x, delta, label, grid, **_) -> Tensor:
    from captum.attr import FeatureAblation

    groups = torch.arange(grid.num_groups, device=x.device, dtype=x.dtype)
    mask = grid.fold(groups.view(1, -1, 1).expand(1, -1, grid.size * grid.size), 1).round().long()
    # captum: Z(input) − Z(input with the group from the baseline) = Z(x) − Z(x + δ_G), the negated effect.
    attribution = FeatureAblation(model).attribute(
        x, baselines=x + delta, target=label, feature_mask=mask, perturbations_per_eval=64
    )
    return -_group_value(grid, attribution)


_ATTRIBUTIONS: dict[str, Callable[..., Tensor]] = {
    "integrated_gradients": _integrated_gradients,
    "deeplift": _deeplift,
    "gradient_shap": _gradient_shap,
    "occlusion": _occlusion,
    "saliency_x_delta": _saliency_x_delta,
    "feature_ablation": _feature_ablation,
}


@contextlib.contextmanager
def _seeded_global_streams(seed: int, device: torch.device):
    """captum's GradientShap draws its path points and baselines from numpy's and torch's global
    generators: both seeded with ``seed`` inside, the caller's streams restored on the way out."""
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def _without_inplace(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose in-place activations compute out of place."""
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if getattr(module, "inplace", False):
            module.inplace = False
    return copied
