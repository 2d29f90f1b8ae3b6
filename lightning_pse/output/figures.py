"""Report figures as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402
from torch import Tensor  # noqa: E402

from .images import side_by_side, to_uint8  # noqa: E402


def draw(figs: dict[str, bytes], errors: list[str], name: str, make) -> None:
    """``figs[name] = make()``; a figure that fails is a line in ``errors``, never a lost report."""
    try:
        figs[name] = make()
    except Exception as err:  # noqa: BLE001 - the numbers already computed matter more than a picture
        plt.close("all")
        errors.append(f"{name}: {type(err).__name__}: {err}")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def psr_histogram(psrs: dict[str, Tensor]) -> bytes:
    """Histogram of whole-image PSR per attack (PSR clipped to ±20 for display)."""
    figure, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in psrs.items():
        if values.numel():
            ax.hist(values.clamp(-20, 20).numpy(), bins=40, range=(-20, 20), alpha=0.55, label=name)
    ax.axvline(-1, color="grey", lw=0.8, ls="--")
    ax.axvline(1, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("whole-image PSR = log2(P / S)  (< -τ suppression, > τ promotion)")
    ax.set_ylabel("images")
    if any(values.numel() for values in psrs.values()):
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no fooled image", ha="center", va="center", transform=ax.transAxes)
    return _png(figure)


def category_shares(attacks: dict) -> bytes:
    """Stacked bars: image-type shares per attack (``attacks``: a ``pse`` block's ``attacks``)."""
    report, names = attacks, list(attacks)
    figure, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * max(len(names), 1)))
    colours = {"suppression": "#2659ff", "promotion": "#ff2626", "balanced": "#999999"}
    for row, name in enumerate(names):
        left = 0.0
        for category, colour in colours.items():
            share = report[name]["image_type_shares"][category] or 0.0
            ax.barh(row, share, left=left, color=colour, label=category if row == 0 else None)
            left += share
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of adversarial images by type")
    ax.legend(loc="lower right", fontsize=8)
    return _png(figure)


def image_grid(rows: Tensor, scale: int = 3) -> bytes:
    """``[N, 3, H, W']`` rows (already side by side) as one PNG."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(side_by_side(rows, scale=scale))).save(buffer, format="PNG")
    return buffer.getvalue()


def sensitivity_scatter(
    sensitivity: Tensor, best_iou: Tensor, detectors: Tensor, spearman: float, layer: str, iou_threshold: float
) -> bytes:
    """Each unit's attack sensitivity ``s_k`` against its best IoU, detectors highlighted."""
    figure, ax = plt.subplots(figsize=(5.5, 3.6))
    s, iou, detector = sensitivity.cpu().numpy(), best_iou.cpu().numpy(), detectors.cpu().numpy().astype(bool)
    ax.scatter(s[~detector], iou[~detector], s=12, c="#999999", label="other units")
    ax.scatter(s[detector], iou[detector], s=12, c="#d62728", label=f"detectors (IoU > {iou_threshold:.2f})")
    ax.axhline(iou_threshold, color="grey", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=0.01)  # near-dead units (mean activation ≈ 0) have huge s_k
    ax.set_xlabel("sensitivity s_k to the attack (symlog)")
    ax.set_ylabel("best concept IoU")
    ax.set_title(f"{layer}: Spearman ρ = {spearman:.3f}")
    ax.legend(fontsize=8)
    return _png(figure)


def masking_curve(rows: list[dict]) -> bytes:
    """Clean and robust accuracy against the share of units masked: most sensitive vs random."""
    figure, ax = plt.subplots(figsize=(5.5, 3.6))
    fractions = [100 * r["fraction"] for r in rows]
    for key, label, colour in (("clean_accuracy", "clean", "#1f77b4"), ("robust_accuracy", "robust", "#d62728")):
        ax.plot(fractions, [r[key] for r in rows], "o-", color=colour, label=f"{label}, most sensitive masked")
        ax.plot(
            fractions,
            [r[f"random_{key}"] for r in rows],
            "o--",
            color=colour,
            alpha=0.6,
            label=f"{label}, random units masked",
        )
    ax.set_xlabel("units masked (%)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return _png(figure)


def trend_figure(panels: dict[str, dict[str, list[tuple[float, float]]]]) -> bytes:
    """One panel per metric (``title → run → [(epoch, value), ...]``): each run's values against epoch."""
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.9 * rows), squeeze=False)
    for ax, (title, runs) in zip(axes.flat, panels.items()):
        for run, points in runs.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=run)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.02 * rows))
    figure.tight_layout()
    return _png(figure)


def correlation_figure(panels: dict[str, tuple[list[float], list[float], str]]) -> bytes:
    """One scatter per metric (``title → (metric values, robust accuracies, subtitle)``): the metric
    against robust accuracy, the subtitle giving the rank correlation."""
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.1 * rows), squeeze=False)
    for ax, (title, (xs, ys, subtitle)) in zip(axes.flat, panels.items()):
        ax.scatter(xs, ys, s=14)
        ax.set_title(f"{title}\n{subtitle}", fontsize=8)
        ax.set_ylabel("robust accuracy", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    figure.tight_layout()
    return _png(figure)
