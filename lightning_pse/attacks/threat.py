"""Threat models: the perturbation set ``{δ : ‖δ‖ ≤ ε}`` as a small object (after MadryLab's
``robustness.attack_steps``), so one PGD loop serves ℓ∞, ℓ2 and ℓ1.

All tensors are ``[B, C, H, W]``; norms are per sample over ``C, H, W``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnknownNameError, UserInputError, check_range
from .radii import REFERENCE_EPS

NORMS = ("linf", "l2", "l1")


def l2_norm(t: Tensor) -> Tensor:
    """Per-sample ℓ2 norm, shaped ``[B, 1, 1, 1]`` to broadcast."""
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def l1_norm(t: Tensor) -> Tensor:
    """Per-sample ℓ1 norm, shaped ``[B, 1, 1, 1]`` to broadcast."""
    return t.flatten(1).abs().sum(dim=1).view(-1, 1, 1, 1)


def project_l1_ball(delta: Tensor, eps: float, low: Tensor | None = None, high: Tensor | None = None) -> Tensor:
    """The Euclidean projection of each sample of ``delta`` ``[B, ...]`` onto ``{‖δ‖₁ ≤ ε}``, and onto
    the box ``low ≤ δ ≤ high`` as well when it is given (``low ≤ 0 ≤ high``, shaped like ``delta``;
    for images ``low = −x``, ``high = 1 − x``, so ``x + δ`` stays in [0, 1]).

    The problem separates per coordinate once the ℓ1 constraint has its multiplier ``λ ≥ 0``:
    ``δ_i = sign(v_i) · min(max(|v_i| − λ, 0), r_i)``, ``r_i`` the box's room in ``v_i``'s direction
    (∞ without a box: Duchi et al. 2008's soft threshold). ``λ = 0`` when the box-clipped point is in
    the ball, else the root of ``g(λ) = Σ_i clamp(|v_i| − λ, 0, r_i) = ε``. ``g`` is piecewise linear
    and decreasing, with breakpoints ``|v_i|`` (coordinate i starts to count, slope −1 more) and
    ``|v_i| − r_i`` (it is capped at ``r_i``); sorting them in decreasing order and accumulating
    gives ``g`` at every breakpoint, and ``λ`` lies on the segment where ``g`` passes ε (the ℓ1
    projection of Croce & Hein 2021's APGD-ℓ1 solves the same problem by bisection over the
    breakpoints). Exact up to rounding; batched, one sort of ``2·D`` numbers per sample."""
    flat = delta.flatten(1)
    magnitude = flat.abs()
    if low is None:
        room = torch.full_like(magnitude, torch.inf)
    else:
        room = torch.where(flat >= 0, high.flatten(1), -low.flatten(1)).clamp(min=0)
    clipped = torch.minimum(magnitude, room)
    outside = clipped.sum(dim=1) > eps
    if not outside.any():
        return (flat.sign() * clipped).view_as(delta)
    breakpoints = torch.cat([magnitude, (magnitude - room).clamp(min=0)], dim=1)
    slope_change = torch.cat([torch.ones_like(magnitude), -torch.ones_like(magnitude)], dim=1)
    points, order = breakpoints.sort(dim=1, descending=True)
    counting = slope_change.gather(1, order).cumsum(dim=1)  # coordinates on their linear piece below each point
    rises = (counting[:, :-1] * (points[:, :-1] - points[:, 1:])).cumsum(dim=1)
    g = torch.cat([torch.zeros_like(points[:, :1]), rises], dim=1)  # g at each breakpoint
    last = ((g <= eps).sum(dim=1, keepdim=True) - 1).clamp(0, points.shape[1] - 2)  # g passes ε after it
    lam = points.gather(1, last) - (eps - g.gather(1, last)) / counting.gather(1, last).clamp(min=1)
    lam = torch.where(outside.unsqueeze(1), lam.clamp(min=0), torch.zeros_like(lam))
    return (flat.sign() * torch.minimum((magnitude - lam).clamp(min=0), room)).view_as(delta)


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

    def step(
        self, x: Tensor, delta: Tensor, grad: Tensor, step_size: float | Tensor, sparsity: Tensor | None = None
    ) -> Tensor:
        """``δ + step_size · s / ‖s‖₁``, ``s`` the gradient's sign on its ``⌊sparsity·D⌋`` (at least one)
        largest movable coordinates; ``sparsity`` ``[B]`` per sample (APGD-ℓ1 adapts it), default the
        threat model's."""
        at_bound = ((x + delta >= 1) & (grad > 0)) | ((x + delta <= 0) & (grad < 0))
        movable = grad.masked_fill(at_bound, 0).flatten(1).abs()
        size = movable.shape[1]
        fraction = torch.as_tensor(self.sparsity if sparsity is None else sparsity, device=x.device)
        k = (fraction * size).long().clamp(1, size).expand(movable.shape[0]).unsqueeze(1)
        threshold = movable.sort(dim=1, descending=True).values.gather(1, k - 1)
        chosen = (movable >= threshold) & (movable > 0)
        direction = (grad.sign() * chosen.view_as(grad)).to(grad.dtype)
        return delta + step_size * direction / (l1_norm(direction) + 1e-12)

    def constrain(self, x: Tensor, delta: Tensor, mask: Tensor | None = None) -> Tensor:
        """The nearest point to ``δ`` (zeroed outside ``mask``) in the ℓ1 ball with ``x + δ`` in
        [0, 1]: one joint projection (projecting onto the ball, then clipping, would spend the budget
        on pixels the box then cuts)."""
        if mask is not None:
            delta = delta * mask
        return (x + project_l1_ball(delta, self.eps, -x, 1 - x)).clamp(0, 1) - x


THREATS = {"linf": LinfThreat, "l2": L2Threat, "l1": L1Threat}


def resolve_eps(eps: float | None, norm: str) -> float:
    """``eps``, or the literature's CIFAR-size radius for ``norm`` (``radii.REFERENCE_EPS``)."""
    if norm not in REFERENCE_EPS:
        raise UnknownNameError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if eps is None:
        return REFERENCE_EPS[norm]
    check_range("eps", eps, low=0)
    return eps


def largest_perturbation(norm: str, num_values: int) -> float:
    """The largest ``norm`` of a perturbation between two images in [0, 1] with ``num_values``
    pixel values (``C·H·W``): 1 at ℓ∞, √n at ℓ2, n at ℓ1 (every value moved from 0 to 1)."""
    return {"linf": 1.0, "l2": num_values**0.5, "l1": float(num_values)}[norm]


def check_radius(norm: str, eps: float, image_shape: tuple[int, ...]) -> None:
    """Refuse, as a ``UserInputError``, a radius that constrains nothing on images of
    ``image_shape`` ``(C, H, W)`` in [0, 1]: ``eps`` at or beyond ``largest_perturbation`` (every
    image is then inside the ball of every other)."""
    largest = largest_perturbation(norm, math.prod(image_shape))
    if eps >= largest:
        raise UserInputError(
            f"ε = {eps:g} ({norm}) constrains nothing: between two images of shape {tuple(image_shape)} in "
            f"[0, 1] the {norm} distance is at most {largest:g}; use an ε below {largest:g}, e.g. "
            f"{REFERENCE_EPS[norm]:.4g} (pixels are in [0, 1], not 0–255)"
        )


def threat_model(norm: str, eps: float) -> ThreatModel:
    eps = resolve_eps(eps, norm)  # also refuses unknown norms
    return THREATS[norm](eps)
