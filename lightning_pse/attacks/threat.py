"""Threat models: the perturbation set ``{δ : ‖δ‖ ≤ ε}`` as a small object (after MadryLab's
``robustness.attack_steps``), so one PGD loop serves ℓ∞ and ℓ2.

All tensors are ``[B, C, H, W]``; norms are per sample over ``C, H, W``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnknownNameError, check_range

NORMS = ("linf", "l2")


def l2_norm(t: Tensor) -> Tensor:
    """Per-sample ℓ2 norm, shaped ``[B, 1, 1, 1]`` to broadcast."""
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


class ThreatModel:
    """Shared by the threat models: the admissible part of a perturbation."""

    def project(self, delta: Tensor) -> Tensor:
        raise NotImplementedError

    def constrain(self, x: Tensor, delta: Tensor, mask: Tensor | None = None) -> Tensor:
        """``δ`` projected onto the ε-ball, zeroed outside ``mask`` ``[B, 1, H, W]`` and clipped
        so that ``x + δ`` stays in [0, 1] (clipping never increases an ℓp norm)."""
        delta = self.project(delta)
        if mask is not None:
            delta = delta * mask
        return (x + delta).clamp(0, 1) - x


class LinfThreat(ThreatModel):
    """``‖δ‖∞ ≤ ε``; ascent steps along ``sign(∇)``."""

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def random_start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Uniform in the ε-box."""
        return (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * self.eps

    def step(self, delta: Tensor, grad: Tensor, step_size: float | Tensor) -> Tensor:
        return delta + step_size * grad.sign()

    def project(self, delta: Tensor) -> Tensor:
        return delta.clamp(-self.eps, self.eps)


class L2Threat(ThreatModel):
    """``‖δ‖₂ ≤ ε``; ascent steps along ``∇ / ‖∇‖₂``."""

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def random_start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A Gaussian direction scaled to a radius uniform in ``[0, ε]``."""
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)
        return direction / (l2_norm(direction) + 1e-12) * radius * self.eps

    def step(self, delta: Tensor, grad: Tensor, step_size: float | Tensor) -> Tensor:
        return delta + step_size * grad / (l2_norm(grad) + 1e-12)

    def project(self, delta: Tensor) -> Tensor:
        return delta * (self.eps / (l2_norm(delta) + 1e-12)).clamp(max=1.0)


DEFAULT_EPS = {"linf": 8 / 255, "l2": 0.5}


def resolve_eps(eps: float | None, norm: str) -> float:
    """``eps``, or the literature's CIFAR-size radius for ``norm`` (ℓ∞ 8/255, ℓ2 0.5)."""
    if norm not in DEFAULT_EPS:
        raise UnknownNameError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if eps is None:
        return DEFAULT_EPS[norm]
    check_range("eps", eps, low=0)
    return eps


def threat_model(norm: str, eps: float) -> ThreatModel:
    eps = resolve_eps(eps, norm)  # also refuses unknown norms
    return LinfThreat(eps) if norm == "linf" else L2Threat(eps)
