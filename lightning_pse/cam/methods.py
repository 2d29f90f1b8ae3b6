"""Class activation maps: CAM, Grad-CAM and Grad-CAM++ (``docs/method.md`` §2), batched, on the input's
device, one class per image. Hooks are owned by ``models.capture`` (always released) and the model
runs in eval mode with its state restored (``models.state.eval_mode``).

Public: ``cam``, ``grad_cam``, ``grad_cam_pp``, each ``f(model, x, classes, layer=None) -> [B, H, W]``
in [0, 1]: the map at the layer's resolution, upsampled bilinearly (half-pixel centres) to the
image and min–max normalised per image (a constant map becomes 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserInputError
from ..models.capture import capture, resolve_layer
from ..models.state import eval_mode


def layer_activations_and_gradients(
    model: nn.Module, x: Tensor, classes: Tensor, layer: nn.Module | str | None = None
) -> tuple[Tensor, Tensor]:
    """``(A, ∂Z_c/∂A)``, both ``[B, K, h, w]``: the layer's output on ``x`` and the gradient of each
    image's class logit ``Z_{c_b}`` with respect to it (parameter ``.grad`` untouched)."""
    module = resolve_layer(model, layer)
    classes = classes.to(x.device).long().view(-1, 1)
    with eval_mode(model), capture(module) as outputs:
        logits = model(x.detach())
        activations = outputs[0]
        (grads,) = torch.autograd.grad(logits.gather(1, classes).sum(), activations)
    return activations.detach(), grads.detach()


def upsample_normalize(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """``[B, h, w]`` → ``[B, H, W]``: bilinear upsampling (``align_corners=False``), then per-image
    min–max normalisation to [0, 1] (``(M − min) / (max − min)``, 0 where the map is constant)."""
    up = F.interpolate(maps.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False).squeeze(1)
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / span.clamp(min=1e-12), torch.zeros_like(up))


def class_activation_map(model: nn.Module, x: Tensor, classes: Tensor) -> Tensor:
    """Raw CAM ``M_c = Σ_k w_k^c f_k`` ``[B, h, w]`` at the feature layer of a GAP + linear model
    (Zhou et al. 2016); ``mean(M_c) = Z_c − b_c``."""
    if not hasattr(model, "classifier") or not hasattr(model, "feature_layer"):
        raise UserInputError(
            "CAM needs a model ending in global average pooling + linear (feature_layer and "
            "classifier); use grad_cam for other models"
        )
    with eval_mode(model), torch.no_grad(), capture(model.feature_layer) as outputs:
        model(x)
    weights = model.classifier.weight[classes.to(x.device).long()]  # [B, K]
    return torch.einsum("bk,bkhw->bhw", weights, outputs[0])


def cam(model: nn.Module, x: Tensor, classes: Tensor, layer: nn.Module | str | None = None) -> Tensor:
    """CAM ``[B, H, W]`` in [0, 1]; ``layer`` must be ``None`` or the model's feature layer."""
    if layer is not None and resolve_layer(model, layer) is not model.feature_layer:
        raise UserInputError(
            "CAM is defined at the feature layer only (the classifier weights apply there); use "
            "grad_cam for another layer"
        )
    return upsample_normalize(class_activation_map(model, x, classes), tuple(x.shape[-2:]))


def grad_cam(model: nn.Module, x: Tensor, classes: Tensor, layer: nn.Module | str | None = None) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017) ``[B, H, W]`` in [0, 1]:
    ``ReLU(Σ_k α_k A_k)``, ``α_k = mean_{ij} ∂Z_c/∂A_kij``."""
    activations, grads = layer_activations_and_gradients(model, x, classes, layer)
    alpha = grads.mean(dim=(2, 3), keepdim=True)
    return upsample_normalize((alpha * activations).sum(dim=1).clamp(min=0), tuple(x.shape[-2:]))


def grad_cam_pp(
    model: nn.Module, x: Tensor, classes: Tensor, layer: nn.Module | str | None = None, eps: float = 1e-6
) -> Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018, eq. 19) ``[B, H, W]`` in [0, 1]: ``ReLU(Σ_k w_k A_k)``,
    ``w_k = Σ_ij a_kij·ReLU(g_kij)``, ``a = g² / (2g² + Σ_ij A_k · g³ + eps)`` (0 where ``g = 0``),
    ``g = ∂Z_c/∂A``."""
    activations, grads = layer_activations_and_gradients(model, x, classes, layer)
    g2 = grads.pow(2)
    total = activations.sum(dim=(2, 3), keepdim=True)
    alpha = torch.where(grads != 0, g2 / (2 * g2 + total * g2 * grads + eps), torch.zeros_like(grads))
    weights = (alpha * grads.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return upsample_normalize((weights * activations).sum(dim=1).clamp(min=0), tuple(x.shape[-2:]))


CAM_METHODS = {"cam": cam, "grad_cam": grad_cam, "grad_cam_pp": grad_cam_pp}
