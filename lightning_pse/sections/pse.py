"""The PSE section: promotion–suppression analysis of each attack's successful adversarial
examples (``docs/method.md`` §1), and, on data with object masks, where the categories fall."""

from __future__ import annotations

import html

import torch
from torch import Tensor, nn
from torchmetrics import SumMetric

from ..attacks import Attack, presets
from ..groups import check_group_layout
from ..output import figures
from ..output.html import img, table
from ..output.images import as_rgb, category_overlay
from ..pse import Category, PSESettings, PSEShares, analyze
from ..pse.categories import clamped
from ..pse.ground_truth import TRUTH_COLUMNS, truth_counts, truth_summary
from .base import AttackRuns, ProbeBatch, Section, attack_radius_entry, nan_if_none
from .records import Records

# RGB of each category in overlays: red promotion, blue suppression, grey balanced.
CATEGORY_COLORS = {
    int(Category.SUPPRESSION): (0.15, 0.35, 1.0),
    int(Category.PROMOTION): (1.0, 0.15, 0.15),
    int(Category.BALANCED): (0.6, 0.6, 0.6),
}
CATEGORIES = ("suppression", "promotion", "balanced")
RECORD_COLUMNS = (
    "label",
    "target",
    "image_type",
    "image_psr",
    "image_promotion",
    "image_suppression",
    "suppression_energy",
    "promotion_energy",
    "balanced_energy",
    "distance",
)


class PSESection(Section):
    """Per attack ``name``, on the correctly classified probe samples:

    report ``pse.attacks.<name>``: ``num_attacked``, ``num_analyzed`` (fooled), ``success_rate``,
    ``image_type_shares`` and ``group_energy_shares`` (suppression / promotion / balanced; ``None``
    when nothing was fooled), ``mean_psr``, the attack's ``bounded``, ``norm`` and ``eps`` and the
    ``median_distance`` of its perturbations in its norm (the findings judge only attacks inside the
    threat model); and ``pse.ground_truth`` when the data carry
    ``object_mask`` and ``distractor_mask`` (targeted ``presets.ground_truth`` toward the
    distractor's class: how much more of each category lies on the object / distractor than chance).
    Logged per epoch: ``pse/<name>/{suppression,promotion,balanced}_{share,energy}``,
    ``pse/<name>/mean_psr``, ``pse/<name>/success_rate``.

    Args:
        attacks: name → attack (default ``presets.pse_attacks()``; ``analyze.py`` makes them at its radius).
        settings: the ``pse.analyze`` settings (``PSESettings``; a dict of some of them is read as one).
        ground_truth: measure the ground-truth block when the data carry masks.
        num_examples: images kept per attack for the figures.
        seed: seed of the ground-truth attack.
    """

    name = "pse"
    sees_gathered_images = True

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        settings: PSESettings | dict | None = None,
        ground_truth: bool = True,
        num_examples: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.attacks = attacks if attacks is not None else presets.pse_attacks(seed=seed)
        self.settings = PSESettings.of(settings)
        self.ground_truth = ground_truth
        self.num_examples = num_examples
        self.truth_attack = presets.ground_truth(seed)
        self.shares = {name: self.add_metric(PSEShares()) for name in self.attacks}
        self.attacked = {name: self.add_metric(SumMetric()) for name in self.attacks}
        self.fooled = {name: self.add_metric(SumMetric()) for name in self.attacks}
        self.records = {name: self.add_metric(Records(RECORD_COLUMNS)) for name in self.attacks}
        self.truth = self.add_metric(Records(TRUTH_COLUMNS))  # pixel counts per fooled image
        self.examples: dict[str, list[Tensor]] = {}

    def check(self, x: Tensor) -> None:
        """The pixel groups fit images like ``x`` ``[1, C, H, W]``."""
        check_group_layout(x, self.settings.group_size, self.settings.stride)

    def clear_examples(self) -> None:
        self.examples = {name: [] for name in self.attacks}

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        correct = runs.batch
        if not len(correct):
            return
        for name, attack in self.attacks.items():
            attacked, pse = runs.pse(attack, self.settings)
            won = attacked.success
            self.attacked[name].update(float(len(correct)))
            self.fooled[name].update(float(won.sum()))
            if pse is None:
                continue
            self.shares[name].update(pse)
            self.records[name].update(
                correct.index[won],
                label=correct.y[won],
                target=attacked.aim[won],
                image_type=pse.image_type,
                image_psr=pse.image_psr,
                image_promotion=pse.image_promotion,
                image_suppression=pse.image_suppression,
                suppression_energy=pse.shares[:, Category.SUPPRESSION],
                promotion_energy=pse.shares[:, Category.PROMOTION],
                balanced_energy=pse.shares[:, Category.BALANCED],
                distance={"linf": attacked.linf, "l2": attacked.l2, "l1": attacked.l1}[attack.norm][won],
            )
            room = self.num_examples - sum(len(rows) for rows in self.examples[name])
            if self.keep_examples and room > 0:
                x, x_adv = correct.x[won][:room], attacked.x_adv[won][:room]
                overlay = category_overlay(x, pse.to_pixels(pse.category)[:room], CATEGORY_COLORS)
                self.examples[name].append(torch.cat([as_rgb(x), as_rgb(x_adv), overlay], dim=3).cpu())
        if self.ground_truth and {"object_mask", "distractor_mask"} <= set(correct.extras):
            self._ground_truth(model, correct)

    def _ground_truth(self, model: nn.Module, batch: ProbeBatch) -> None:
        """Targeted PGD toward the distractor's class; pixel counts of the categories in each region."""
        target = batch.extras["distractor_label"].long()
        result = self.truth_attack.run(model, batch.x, batch.y, target)
        won = result.success
        if not won.any():
            return
        pse = analyze(model, batch.x[won], result.x_adv[won], batch.y[won], target[won], **self.settings.kwargs())
        counts = truth_counts(
            pse.category_mask(Category.SUPPRESSION),
            pse.category_mask(Category.PROMOTION),
            batch.extras["object_mask"][won],
            batch.extras["distractor_mask"][won],
        )
        self.truth.update(batch.index[won], **counts)

    def compute(self, model: nn.Module | None = None, rank: int = 0, world_size: int = 1) -> dict:
        attacks = {}
        for name, attack in self.attacks.items():
            attacked, fooled = int(self.attacked[name].compute()), int(self.fooled[name].compute())
            values = self.shares[name].compute() if fooled else None
            records = {key: value.tolist() for key, value in self.records[name].table().items()}
            attacks[name] = {
                "attack": type(attack).__name__,
                "targeted": bool(attack.targeted),
                **attack_radius_entry(attack),
                "median_distance": median_or_none(records["distance"]),
                "describe": attack.describe(),
                "estimator": self.settings.estimator,
                "num_attacked": attacked,
                "num_analyzed": fooled,
                "success_rate": fooled / attacked if attacked else None,
                "image_type_shares": {c: _item(values, f"{c}_share") for c in CATEGORIES},
                "group_energy_shares": {c: _item(values, f"{c}_energy") for c in CATEGORIES},
                "mean_psr": _item(values, "mean_psr"),
                "promotion_fraction": _item(values, "promotion_fraction"),
                "median_psr": unclamped_median_psr(records),
                "clamped_images": _item(values, "clamped_share"),
                "records": records,
            }
        out: dict = {"attacks": attacks}
        truth = self.truth.table()
        if len(truth["index"]):
            out["ground_truth"] = {
                "attack": f"{self.truth_attack.describe()}, target = the distractor's class",
                **truth_summary(truth),
            }
        return {"pse": out}

    def scalars(self, report: dict) -> dict[str, float]:
        out = {}
        for name in self.attacks:
            entry = report["pse"]["attacks"][name]
            for c in CATEGORIES:
                out[f"pse/{name}/{c}_share"] = nan_if_none(entry["image_type_shares"][c])
                out[f"pse/{name}/{c}_energy"] = nan_if_none(entry["group_energy_shares"][c])
            out[f"pse/{name}/mean_psr"] = nan_if_none(entry["mean_psr"])
            out[f"pse/{name}/promotion_fraction"] = nan_if_none(entry["promotion_fraction"])
            out[f"pse/{name}/success_rate"] = nan_if_none(entry["success_rate"])
        return out

    def image_psrs(self, report: dict) -> dict[str, Tensor]:
        return {name: torch.tensor(report["pse"]["attacks"][name]["records"]["image_psr"]) for name in self.attacks}

    def figures(self, report: dict) -> dict[str, object]:
        out = {
            "psr_histogram": lambda: figures.psr_histogram(self.image_psrs(report)),
            "category_shares": lambda: figures.category_shares(report["pse"]["attacks"]),
        }
        for name, rows in self.examples.items():
            if rows:
                out[f"examples/{name}"] = lambda rows=rows: figures.image_grid(torch.cat(rows))
        return out

    def tables(self, report: dict) -> dict[str, tuple[list[str], list[list]]]:
        out = {}
        for name in self.attacks:
            records = report["pse"]["attacks"][name]["records"]
            rows = [
                [int(i), int(label), int(target), Category(int(kind)).name.lower(), *rest]
                for i, label, target, kind, *rest in zip(*(records[c] for c in ("index", *RECORD_COLUMNS)))
            ]
            if rows:
                out[f"{name}/images"] = (["probe_index", *RECORD_COLUMNS], rows)
        return out

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The PSE block of report.html."""
        parts = []
        pse = report["pse"]
        rows = [
            [
                name,
                radius_text(r),
                r["success_rate"],
                r["num_analyzed"],
                *r["image_type_shares"].values(),
                *r["group_energy_shares"].values(),
                r.get("promotion_fraction"),
                r.get("median_psr"),
                r.get("clamped_images"),
            ]
            for name, r in pse["attacks"].items()
        ]
        parts.append("<h2>Promotion and suppression (PSE)</h2>")
        parts.append(
            table(
                [
                    "attack",
                    "radius",
                    "success rate",
                    "images",
                    "suppression images",
                    "promotion images",
                    "balanced images",
                    "suppression energy",
                    "promotion energy",
                    "balanced energy",
                    "P⁺/(P⁺+S⁺)",
                    "median PSR (unclamped)",
                    "clamped PSR",
                ],
                rows,
            )
        )
        parts.append(
            '<p class="small">Whole-image PSR = log2(P/S) is clamped at ε = 1e-12 where one effect is ≤ 0 '
            "(±40 there), so its mean says little: the table gives the bounded promotion fraction "
            "P⁺/(P⁺+S⁺) (½ balanced), the median PSR over unclamped images and the share of clamped ones.</p>"
        )
        for key in ("psr_histogram", "category_shares"):
            if key in figures:
                parts.append(img(figures[key], key))
        for key, png in figures.items():
            if key.startswith("examples/"):
                parts.append(
                    f"<h3>{html.escape(key[9:])}: clean · adversarial · categories "
                    f"(red promotion, blue suppression, grey balanced)</h3>" + img(png, key)
                )
        if "ground_truth" in pse:
            gt = pse["ground_truth"]
            parts.append(
                "<h3>Ground truth (synthetic benchmark)</h3><p>"
                + html.escape(gt["attack"])
                + "; "
                + html.escape(gt["meaning"])
                + "</p>"
            )
            parts.append(
                table(
                    [
                        "suppression on object",
                        "promotion on distractor",
                        "promotion on object",
                        "suppression on distractor",
                        "images",
                    ],
                    [
                        [
                            gt["suppression_on_object"],
                            gt["promotion_on_distractor"],
                            gt["promotion_on_object"],
                            gt["suppression_on_distractor"],
                            gt["num_images"],
                        ]
                    ],
                )
            )
        return parts

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        """The terminal's PSE lines: each attack's fooled images and image-type shares."""
        lines = []
        for name, pse in report["pse"]["attacks"].items():
            if pse["num_analyzed"]:
                shares = ", ".join(f"{k} {v:.2f}" for k, v in pse["image_type_shares"].items())
                lines.append(f"PSE {name}: {pse['num_analyzed']} fooled images; {shares}")
        return lines


def unclamped_median_psr(records: dict[str, list]) -> float | None:
    """Median whole-image PSR over the images where neither effect hit the clamp (``P, S > ε``);
    None when there is none."""
    psr = torch.tensor(records["image_psr"], dtype=torch.float64)
    keep = ~clamped(torch.tensor(records["image_promotion"]), torch.tensor(records["image_suppression"]))
    return float(psr[keep].quantile(0.5)) if keep.any() else None


def _item(values: dict | None, key: str) -> float | None:
    return None if values is None else float(values[key])


def median_or_none(values: list[float]) -> float | None:
    """The median of a record column (the lower middle value for an even count); None when empty."""
    return float(torch.tensor(values, dtype=torch.float64).median()) if values else None


def radius_text(entry: dict) -> str:
    """Where an attack acts: ``linf ε 0.1``, or ``unbounded (outside the threat model; median l2
    distance 0.83)`` for an attack such as C&W, whose rows the findings do not judge."""
    if entry.get("bounded", True):
        return f"{entry.get('norm')} ε {entry['eps']:g}" if entry.get("eps") is not None else "bounded"
    median = entry.get("median_distance")
    distance = f"; median {entry.get('norm')} distance {median:.3g}" if median is not None else ""
    return f"unbounded (outside the threat model{distance})"
