"""Square Attack (Andriushchenko et al., "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020): score-based, no gradients."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnknownNameError, check_range
from ..progress import step_done
from .base import Attack, apply_mask
from .losses import attack_margin, success
from .threat import l1_norm, l2_norm, resolve_eps, threat_model

SQUARE_NORMS = ("linf", "l2", "l1")


def square_fraction(p_init: float, iteration: int, n_queries: int) -> float:
    """The paper's schedule of the fraction ``p`` of pixels a square covers at ``iteration`` (the
    queries after the start, counted from 0, so the first covers ``p_init``): ``p_init`` halved at
    iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a 10 000-query budget (rescaled).
    """
    it = int(iteration / n_queries * 10000)
    halvings = sum(it > b for b in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return p_init / 2**halvings


def _corners(n: int, h: int, w: int, side: int, g, device) -> tuple[Tensor, Tensor]:
    """Top-left corners ``([n], [n])`` of ``side``-pixel squares, each coordinate uniform in
    ``[0, H − side − 1]`` (``0`` when the square spans the image), as the reference code draws them:
    its last position is never drawn. Drawing it too made our search measurably weaker
    (benchmarks/README.md, "Square against the reference")."""
    top = torch.randint(0, max(h - side, 1), (n,), generator=g, device=device)
    left = torch.randint(0, max(w - side, 1), (n,), generator=g, device=device)
    return top, left


def _window(size: Tensor, top: Tensor, left: Tensor, h: int, w: int) -> Tensor:
    """Per-sample square masks ``[B, 1, H, W]`` of side ``size`` at ``(top, left)``."""
    rows = torch.arange(h, device=top.device).view(1, h, 1)
    cols = torch.arange(w, device=top.device).view(1, 1, w)
    t, left, s = top.view(-1, 1, 1), left.view(-1, 1, 1), size.view(-1, 1, 1)
    return ((rows >= t) & (rows < t + s) & (cols >= left) & (cols < left + s))[:, None]


SIZE = {"l2": l2_norm, "l1": l1_norm}  # per-sample norms [B, 1, 1, 1]


def _rings(rows: int, cols: int, decay: int, device, dtype) -> Tensor:
    """``[rows, cols]``: ``r`` the Chebyshev distance from the centre ``(rows//2, cols//2)``, each
    entry ``Σ_{k=r}^{K-1} 1/(k + 1)^decay`` (``K = max(rows//2, cols//2) + 1``): the sum of nested
    centred squares of side ``2k + 1`` weighted ``1/(k + 1)^decay`` (AutoAttack's rectangles)."""
    ring = torch.maximum(
        (torch.arange(rows, device=device) - rows // 2).abs()[:, None],
        (torch.arange(cols, device=device) - cols // 2).abs()[None, :],
    )
    weights = 1.0 / torch.arange(1, max(rows // 2, cols // 2) + 2, device=device, dtype=dtype) ** decay
    tails = weights.flip(0).cumsum(0).flip(0)  # tails[r] = Σ_{k ≥ r} weights[k]
    return tails[ring]


DECAY = {"l2": 2, "l1": 4}  # the nested squares' weights 1/(k + 1)^decay


def square_block(side: int, norm: str, device, dtype) -> Tensor:
    """The ℓ2 and ℓ1 attacks' square pattern ``[side, side]``, unit norm: the top ``side // 2`` rows
    nested squares weighted ``1/(k + 1)^d`` and the other rows the same with the opposite sign, each
    half scaled to unit norm first (the paper's "meta pseudo-Gaussian" block: ``d = 2`` at ℓ2; Croce &
    Hein 2021's Square-ℓ1 block: ``d = 4``, steep, so the budget sits on few pixels)."""
    size = lambda t: SIZE[norm](t[None]).view(())  # noqa: E731
    top = _rings(side // 2, side, DECAY[norm], device, dtype)
    bottom = _rings(side - side // 2, side, DECAY[norm], device, dtype)
    pattern = torch.cat([top / size(top), -bottom / size(bottom)])
    return pattern / size(pattern)


def square_side(p: float, h: int, w: int, norm: str) -> int:
    """The side of a query's square: ``round(√(p·H·W))``; ℓ∞ within ``[1, H − 1]``, ℓ2 and ℓ1 odd and
    within ``[3, min(H, W)]`` (the reference code's rule for its two-half blocks)."""
    side = int(round(math.sqrt(p * h * w)))
    if norm == "linf":
        return max(min(side, h - 1), 1)
    side = max(side, 3)
    return min(side + 1 - side % 2, h, w)


class Square(Attack):
    """Square Attack: random search over square-shaped updates, accepted when they lower the
    loss (margin untargeted, cross-entropy to the target when targeted); only the model's
    scores are used (the check against gradient masking).

    ℓ∞: start from vertical stripes of ±ε; each query sets one random square (side
    ``√(p·H·W)``, ``p`` from ``square_fraction``) to a random ±ε per channel.
    ℓ2 and ℓ1 (the paper's ℓ2 attack and Croce & Hein 2021's Square-ℓ1, as the reference code does
    them): blocks of a positive and a negative half (``square_block``, randomly transposed), odd
    sides of at least 3. Start from a centred tiling of such blocks with random channel signs, scaled
    to ``‖δ‖₂ = ε`` (ℓ2) or projected onto the ℓ1 ball. Each query draws two windows and, channel by
    channel, puts a new block plus the first window's old content (both at unit norm) in the first
    window and empties the second, the first window getting the channel's share of the free budget
    plus what the channel held in both windows (``_window_update``); at ℓ1 that is ``C`` times the
    free budget, so the candidate exceeds ε and its projection onto the ℓ1 ball and the [0, 1] box
    soft-thresholds it to its peaks.

    Only samples not yet fooled are queried; a sample stops once it succeeds.

    Args:
        eps: radius (default 8/255 for ℓ∞, 0.5 for ℓ2, 12 for ℓ1).
        n_queries: query budget (default 5000, as in AutoAttack).
        p_init: initial square fraction (default 0.8, as in AutoAttack).
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        targeted: see ``Attack``.
        seed: see ``Attack``.
        target_rule: see ``Attack``.

    Shapes: ``x`` ``[B, C, H, W]`` in [0, 1]; ``y``, ``target`` ``[B]``; returns ``x_adv``.

    Example::

        x_adv = Square(eps=8/255, n_queries=1000, seed=0)(model, x, y)
    """

    uses_gradients = False  # random search on scores only

    def __init__(
        self,
        eps: float | None = None,
        n_queries: int = 5000,
        p_init: float = 0.8,
        norm: str = "linf",
        targeted: bool = False,
        seed: int | None = None,
        target_rule: str = "random",
    ) -> None:
        super().__init__(targeted=targeted, target_rule=target_rule, seed=seed)
        if norm not in SQUARE_NORMS:
            raise UnknownNameError(f"Square runs at {', '.join(SQUARE_NORMS)}, not {norm!r}")
        self.eps = resolve_eps(eps, norm)
        check_range("n_queries", n_queries, low=1)
        check_range("p_init", p_init, above=0, high=1)
        self.n_queries = n_queries
        self.p_init = p_init
        self.norm = norm
        self._threat = threat_model(norm, self.eps)  # derived (private: equal settings, equal attacks)

    def budget(self) -> int:
        return self.n_queries - 1

    @torch.no_grad()  # score-based: no query needs a graph (one kept per query grows without bound)
    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, mask: Tensor | None) -> Tensor:
        g = self.generator(x.device)
        b, c, h, w = x.shape
        delta = apply_mask(self._init(x, g), mask)
        if self.norm == "l2":
            delta = delta * self.eps / (l2_norm(delta) + 1e-12)
        x_adv = x + self._threat.constrain(x, delta, mask)
        logits = model(x_adv)
        loss = self._loss(logits, y, target)
        done = success(logits, y, target)
        for i in range(self.n_queries - 1):  # the start was the first query
            active = (~done).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            p = square_fraction(self.p_init, i, self.n_queries)
            side = square_side(p, h, w, self.norm)
            xa, da = x[active], x_adv[active] - x[active]
            n = active.numel()
            top, left = _corners(n, h, w, side, g, x.device)
            window = _window(torch.full((n,), side, device=x.device), top, left, h, w).to(x.dtype)
            if self.norm == "linf":
                signs = torch.randint(0, 2, (n, c, 1, 1), generator=g, device=x.device).to(x.dtype) * 2 - 1
                candidate = da * (1 - window) + window * signs * self.eps
            else:
                candidate = self._block_update(da, window, top, left, side, g)
            candidate_x = xa + self._threat.constrain(xa, candidate, None if mask is None else mask[active])
            new_logits = model(candidate_x)
            new_loss = self._loss(new_logits, y[active], None if target is None else target[active])
            better = new_loss < loss[active]
            idx = active[better]
            x_adv[idx] = candidate_x[better]
            loss[idx] = new_loss[better]
            done[idx] = success(new_logits[better], y[idx], None if target is None else target[idx])
            step_done()
        return x_adv

    @staticmethod
    def _loss(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        """Minimised per sample: the margin ``Z_y − max_{j≠y} Z_j`` untargeted, the cross-entropy
        to the target when targeted (the paper's choices)."""
        if target is None:
            return attack_margin(logits, y, None)
        return F.cross_entropy(logits, target, reduction="none")

    def _init(self, x: Tensor, g) -> Tensor:
        b, c, h, w = x.shape
        if self.norm == "linf":
            stripes = torch.randint(0, 2, (b, c, 1, w), generator=g, device=x.device).to(x.dtype) * 2 - 1
            return self.eps * stripes.expand(b, c, h, w).clone()
        side = max(h // 5, 1)
        block = square_block(side, self.norm, x.device, x.dtype)
        delta = torch.zeros_like(x)
        top, left = max((h - 5 * side) // 2, 0), max((w - 5 * side) // 2, 0)  # the tiling centred
        for i in range(top, h - side + 1, side):
            for j in range(left, w - side + 1, side):
                signs = torch.randint(0, 2, (b, c, 1, 1), generator=g, device=x.device).to(x.dtype) * 2 - 1
                delta[:, :, i : i + side, j : j + side] = signs * self._oriented(block, b, g)
        return delta

    @staticmethod
    def _oriented(block: Tensor, n: int, g) -> Tensor:
        """``block`` ``[S, S]`` for each of ``n`` samples ``[n, 1, S, S]``, transposed for a random half
        of them (the block's positive and negative halves then lie side by side)."""
        flip = torch.rand(n, generator=g, device=block.device) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), block.T, block)

    def _block_update(self, delta: Tensor, window: Tensor, top: Tensor, left: Tensor, side: int, g) -> Tensor:
        """The ℓ2/ℓ1 query on ``delta`` ``[n, C, H, W]``: a second window drawn, a new block with random
        channel signs placed in ``window`` (corner ``top``, ``left``), then ``_window_update``."""
        n, c, h, w = delta.shape
        top2, left2 = _corners(n, h, w, side, g, delta.device)
        window2 = _window(torch.full((n,), side, device=delta.device), top2, left2, h, w).to(delta.dtype)
        union = torch.maximum(window, window2)
        signs = torch.randint(0, 2, (n, c, 1, 1), generator=g, device=delta.device).to(delta.dtype) * 2 - 1
        rows = torch.arange(h, device=delta.device)
        patterns = self._oriented(square_block(side, self.norm, delta.device, delta.dtype), n, g)[:, 0]
        # Place each sample's pattern in its first window by offsets from the corner (top, left).
        r = (rows.view(1, h, 1) - top.view(-1, 1, 1)).clamp(0, side - 1)
        col = (torch.arange(w, device=delta.device).view(1, 1, w) - left.view(-1, 1, 1)).clamp(0, side - 1)
        block = patterns[torch.arange(n, device=delta.device).view(-1, 1, 1), r, col][:, None] * window * signs
        return self._window_update(delta, window, union, block)

    def _window_update(self, delta: Tensor, window: Tensor, union: Tensor, block: Tensor) -> Tensor:
        """Channel by channel (norms over ``H, W``, shaped ``[n, C, 1, 1]``): the first ``window`` gets
        ``u = block + δ_window/‖δ_window‖`` (``block`` of unit norm per channel) scaled to norm

            ℓ2:  √( (ε² − ‖δ‖₂²)₊ / C + ‖δ_union‖₂² )      (so that ‖δ'‖₂ = ε)
            ℓ1:  C · ( (ε − ‖δ‖₁)₊ / C + ‖δ_union‖₁ )        (C times the budget; projected after)

        and the rest of ``union`` (both windows ``[n, 1, H, W]``) is emptied."""
        c = delta.shape[1]
        if self.norm == "l2":
            per_channel = lambda t: t.square().sum((-2, -1), keepdim=True).sqrt()  # noqa: E731
            free = (self.eps**2 - l2_norm(delta) ** 2).clamp(min=0)
            target = (free / c + per_channel(delta * union) ** 2).sqrt()
        else:
            per_channel = lambda t: t.abs().sum((-2, -1), keepdim=True)  # noqa: E731
            free = (self.eps - l1_norm(delta)).clamp(min=0)
            target = (free / c + per_channel(delta * union)) * c
        old = delta * window
        content = block + old / (per_channel(old) + 1e-12)
        return delta * (1 - union) + content * target / (per_channel(content) + 1e-12)
