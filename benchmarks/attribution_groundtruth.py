"""PSE against captum's attribution methods on the synthetic benchmark's ground truth: which
estimate of a perturbation's effects puts suppression on the true object and promotion on the
distractor?

    python benchmarks/attribution_groundtruth.py [--models standard pgd_at] [--num-fooled 500]

Trains small CNNs (seed 0, ``--num-train`` synthetic images, 3 epochs, ``ground_truth.trained_small_cnn``):
``standard`` and ``pgd_at`` (ℓ∞ 8/255, the default config's 3-step inner PGD). On each, the seeded
test probe in order: the ground-truth attack (targeted PGD ℓ∞ 16/255, 20 steps, toward the
distractor's class; ``attacks.presets.ground_truth``) on the correctly classified images, until
``--num-fooled`` images are fooled. On every fooled image each method estimates the promotion
``P_G`` and suppression ``S_G`` of the 256 2×2 pixel groups: our two PSE estimators (exact
``ablation``, first-order ``gradient``) and captum's methods (``pse.attributions``); the same
categories (τ 1, ρ 0.05, ``pse.categorize``) make suppression- and promotion-dominated pixels of
each, and the ground-truth counts give the concentrations on the object and the distractor and the
two specificity ratios with 95 % bootstrap intervals and verdicts (``docs/method.md`` §7). Seconds
per image per method on this machine's threads.

FeatureAblation is the exact ablation estimator computed through captum: it runs on the first
``--feature-ablation-images`` fooled images only, and the script stops with an error if its
effects differ from ``ablation``'s there (its categories are then ablation's by construction).

Each model's numbers go to ``<out>/<model>.json``; the table is printed from every JSON in ``--out``,
so two processes with different ``--models`` can share it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from ground_truth import test_batches, trained_small_cnn

from lightning_pse.attacks import presets
from lightning_pse.groups import GroupGrid
from lightning_pse.pse import Category
from lightning_pse.pse.attributions import ATTRIBUTION_METHODS, attribution_effects
from lightning_pse.pse.categories import categorize
from lightning_pse.pse.effects import ablation_effects, gradient_effects, group_energy
from lightning_pse.pse.ground_truth import TRUTH_COLUMNS, truth_counts, truth_summary
from lightning_pse.sections.pse import ground_truth_specificity
from lightning_pse.training import PGDATModule

REPO = Path(__file__).resolve().parent.parent
EPS = 8 / 255
MODELS = {
    "standard": lambda num_train: trained_small_cnn(num_train),
    "pgd_at": lambda num_train: trained_small_cnn(
        num_train, PGDATModule, eps=EPS, steps=3, step_size=2.5 * EPS / 3, attack_loss="ce"
    ),
}
OURS = {"pse_ablation": ablation_effects, "pse_gradient": gradient_effects}
METHODS = (*OURS, *ATTRIBUTION_METHODS)
LABELS = {
    "pse_ablation": "PSE, ablation (ours, exact)",
    "pse_gradient": "PSE, gradient (ours, first order)",
    "integrated_gradients": "Integrated Gradients x → x' (32 steps)",
    "deeplift": "DeepLIFT (baseline x)",
    "gradient_shap": "GradientShap (baseline x, 16 samples)",
    "occlusion": "Occlusion (2×2 windows, δ taken back)",
    "saliency_x_delta": "Saliency × δ",
    "feature_ablation": "FeatureAblation (input x, baseline x')",
}


def effects(method: str, model, x, delta, y, target, grid) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P, S)`` ``[B, G]`` of one method."""
    if method in OURS:
        return OURS[method](model, x, delta, y, target, grid)
    return attribution_effects(method, model, x, delta, y, target, grid)


def pixel_counts(promotion, suppression, energy, grid: GroupGrid, regions) -> dict[str, torch.Tensor]:
    """Per-image ground-truth counts (``truth_counts``) of the categories of ``(P, S)`` ``[B, G]``
    with group energies ``energy`` ``[B, G]``; ``regions``: the object and distractor masks ``[B, H, W]``."""
    category = categorize(promotion, suppression, energy.to(promotion.dtype)).view(-1, *grid.shape)
    suppression_pixels = grid.to_pixels((category == int(Category.SUPPRESSION)).float()) > 0
    promotion_pixels = grid.to_pixels((category == int(Category.PROMOTION)).float()) > 0
    return truth_counts(suppression_pixels, promotion_pixels, *regions)


def measure(model, num_fooled: int, num_test: int, ablation_images: int, batch_size: int = 32) -> dict:
    """Every method's ground-truth summary and seconds per image on the first ``num_fooled`` fooled images."""
    grid = GroupGrid(32, 32, 2)
    attack = presets.ground_truth(seed=0)
    counts: dict[str, list[dict]] = {m: [] for m in METHODS}
    seconds = dict.fromkeys(METHODS, 0.0)
    images = dict.fromkeys(METHODS, 0)
    fooled, largest_ablation_gap = 0, 0.0
    for positions, batch in test_batches(num_test, batch_size):
        if fooled >= num_fooled:
            break
        x, y = batch["image"], batch["label"].long()
        target = batch["distractor_label"].long()
        with torch.no_grad():
            keep = (model(x).argmax(1) == y) & (target >= 0)
        x, y, target = x[keep], y[keep], target[keep]
        index = positions[keep]
        if not len(y):
            continue
        result = attack.run(model, x, y, target)
        won = result.success.nonzero().squeeze(1)[: num_fooled - fooled]
        if not len(won):
            continue
        x, x_adv, y, target, index = x[won], result.x_adv[won], y[won], target[won], index[won]
        delta = x_adv - x
        regions = (batch["object_mask"][keep][won], batch["distractor_mask"][keep][won])
        energy = group_energy(grid, delta)
        reference = None
        for method in METHODS:
            if method == "feature_ablation" and images[method] >= ablation_images:
                continue
            began = time.perf_counter()
            promotion, suppression = effects(method, model, x, delta, y, target, grid)
            seconds[method] += time.perf_counter() - began
            images[method] += len(y)
            if method == "pse_ablation":
                reference = (promotion, suppression)
            if method == "feature_ablation":
                pairs = zip(reference, (promotion, suppression))
                gap = max(float((ours - theirs).abs().max()) for ours, theirs in pairs)
                largest_ablation_gap = max(largest_ablation_gap, gap)
                if gap > 1e-4:
                    raise SystemExit(f"error: FeatureAblation differs from the ablation estimator by {gap:.2e}")
            counts[method].append({"index": index, **pixel_counts(promotion, suppression, energy, grid, regions)})
        fooled += len(y)
        print(f"  {fooled} fooled images of the first {int(positions[-1]) + 1} test images", flush=True)
    out = {}
    for method in METHODS:
        if not counts[method]:
            continue
        truth = {key: torch.cat([c[key] for c in counts[method]]) for key in ("index", *TRUTH_COLUMNS)}
        summary = truth_summary(truth)
        summary["verdicts"] = {k: v["verdict"] for k, v in ground_truth_specificity(summary).items()}
        summary["seconds_per_image"] = seconds[method] / images[method]
        out[method] = summary
    if "feature_ablation" in out:
        out["feature_ablation"]["largest_difference_to_ablation"] = largest_ablation_gap
    return out


def table(results: dict[str, dict]) -> str:
    rows = [
        "| model | method | images | supp. on object | supp. on distractor | prom. on distractor | prom. on object "
        "| suppression specificity (object/distractor) [95 % CI] | verdict "
        "| promotion specificity (distractor/object) [95 % CI] | verdict | s / image |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, methods in results.items():
        for method, s in methods.items():
            spec = s["specificity"]
            cells = []
            for key in ("suppression_object_over_distractor", "promotion_distractor_over_object"):
                low, high = spec[key]["ci95"]
                value = "—" if spec[key]["value"] is None else f"{spec[key]['value']:.2f}"
                cells += [f"{value} [{low:.2f}, {high:.2f}]", s["verdicts"][key]]
            rows.append(
                f"| {model} | {LABELS[method]} | {s['num_images']} | {s['suppression_on_object']:.2f} | "
                f"{s['suppression_on_distractor']:.2f} | {s['promotion_on_distractor']:.2f} | "
                f"{s['promotion_on_object']:.2f} | {' | '.join(cells)} | {s['seconds_per_image']:.3f} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--num-fooled", type=int, default=500)
    parser.add_argument("--num-test", type=int, default=4000, help="test images the fooled ones are taken from")
    parser.add_argument("--num-train", type=int, default=4000, help="training images of each model")
    parser.add_argument("--feature-ablation-images", type=int, default=64)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "attribution_groundtruth")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        began = time.perf_counter()
        model = MODELS[name](args.num_train)
        print(f"{name}: trained in {time.perf_counter() - began:.0f} s", flush=True)
        result = measure(model, args.num_fooled, args.num_test, args.feature_ablation_images)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
    results = {path.stem: json.loads(path.read_text()) for path in sorted(args.out.glob("*.json"))}
    print(f"\n{torch.get_num_threads()} thread(s); concentration = share of the category's pixels in the region over")
    print("the region's area share (1 = chance); specificity = ratio of the two concentrations (1 = no preference)\n")
    print(table(results))


if __name__ == "__main__":
    main()
