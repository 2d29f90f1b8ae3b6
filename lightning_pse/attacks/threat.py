"""Threat models: the perturbation set ``{δ : ‖δ‖ ≤ ε}`` as a small object (after MadryLab's
``robustness.attack_steps``), so one PGD loop serves ℓ∞, ℓ2 and ℓ1.

All tensors are ``[B, C, H, W]``; norms are per sample over ``C, H, W``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.stats import REFERENCE_EPS
from ..errors import UnknownNameError, check_range

NORMS = ("linf", "l2", "l1")


def l2_norm(t: Tensor) -> Tensor:
    """Per-sample ℓ2 norm, shaped ``[B, 1, 1, 1]`` to broadcast."""
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def l1_norm(t: Tensor) -> Tensor:
    """Per-sample ℓ1 norm, shaped ``[B, 1, 1, 1]`` to broadcast."""
    return t.flatten(1).abs().sum(dim=1).view(-1, 1, 1, 1)


def project_l1_ball(delta: Tensor, eps: float) -> Tensor:
    """The Euclidean projection of each sample of ``delta`` ``[B, ...]`` onto ``{‖δ‖₁ ≤ ε}`` (Duchi et
    al. 2008): ``sign(δ) · max(|δ| − θ, 0)`` with the threshold ``θ ≥ 0`` at which the ℓ1 norm is ε,
    found by sorting ``|δ|`` in decreasing order ``u``: ``θ = (Σ_{j≤ρ} u_j − ε) / ρ`` for the largest
    ``ρ`` with ``u_ρ > (Σ_{j≤ρ} u_j − ε) / ρ``. Samples inside the ball are returned unchanged."""
    flat = delta.flatten(1)
    magnitude = flat.abs()
    outside = magnitude.sum(dim=1) > eps
    if not outside.any():
        return delta
    ranked = magnitude.sort(dim=1, descending=True).values
    totals = ranked.cumsum(dim=1)
    counts = torch.arange(1, flat.shape[1] + 1, device=delta.device, dtype=delta.dtype)
    rho = (ranked - (totals - eps) / counts > 0).sum(dim=1, keepdim=True)  # the condition holds on a prefix
    theta = ((totals.gather(1, rho - 1) - eps) / rho).clamp(min=0)
    projected = flat.sign() * (magnitude - theta).clamp(min=0)
    return torch.where(outside.unsqueeze(1), projected, flat).view_as(delta)


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

    def step(self, x: Tensor, delta: Tensor, grad: Tensor, step_size: float | Tensor) -> Tensor:
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

    def step(self, x: Tensor, delta: Tensor, grad: Tensor, step_size: float | Tensor) -> Tensor:
        return delta + step_size * grad / (l2_norm(grad) + 1e-12)

    def project(self, delta: Tensor) -> Tensor:
        return delta * (self.eps / (l2_norm(delta) + 1e-12)).clamp(max=1.0)


class L1Threat(ThreatModel):
    """``‖δ‖₁ ≤ ε``; sparse ascent steps (after Tramèr & Boneh 2019's SLIDE): the sign of the gradient
    on its ``sparsity`` largest coordinates, scaled to unit ℓ1 norm, leaving out coordinates that the
    [0, 1] box stops (the pixel is at the bound the gradient pushes toward), which would otherwise
    take every step and stall the attack. The top-5 % default is our choice (SLIDE uses percentiles
    80–99; on Fashion-MNIST 1 %, 5 % and 20 % differ by less than their intervals, benchmarks/README.md,
    "ℓ1"). AutoAttack's APGD-ℓ1 adapts the sparsity during the run and is far stronger."""

    def __init__(self, eps: float, sparsity: float = 0.05) -> None:
        self.eps, self.sparsity = eps, sparsity

    def random_start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A Laplace direction (``±Exp(1)`` per coordinate) scaled to a radius uniform in ``[0, ε]``."""
        magnitude = -torch.log1p(-torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype))
        flip = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
        direction = torch.where(flip, -magnitude, magnitude)
        radius = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)
        return direction / (l1_norm(direction) + 1e-12) * radius * self.eps

    def step(self, x: Tensor, delta: Tensor, grad: Tensor, step_size: float | Tensor) -> Tensor:
        at_bound = ((x + delta >= 1) & (grad > 0)) | ((x + delta <= 0) & (grad < 0))
        movable = grad.masked_fill(at_bound, 0).flatten(1)
        k = max(1, int(self.sparsity * movable.shape[1]))
        chosen = movable.abs().topk(k, dim=1).indices
        direction = torch.zeros_like(movable).scatter_(1, chosen, movable.gather(1, chosen).sign()).view_as(grad)
        return delta + step_size * direction / (l1_norm(direction) + 1e-12)

    def project(self, delta: Tensor) -> Tensor:
        return project_l1_ball(delta, self.eps)


THREATS = {"linf": LinfThreat, "l2": L2Threat, "l1": L1Threat}


def resolve_eps(eps: float | None, norm: str) -> float:
    """``eps``, or the literature's CIFAR-size radius for ``norm`` (``data.stats.REFERENCE_EPS``)."""
    if norm not in REFERENCE_EPS:
        raise UnknownNameError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if eps is None:
        return REFERENCE_EPS[norm]
    check_range("eps", eps, low=0)
    return eps


def threat_model(norm: str, eps: float) -> ThreatModel:
    eps = resolve_eps(eps, norm)  # also refuses unknown norms
    return THREATS[norm](eps)
