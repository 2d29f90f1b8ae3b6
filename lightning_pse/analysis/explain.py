"""The PSE and CAM sections of a report: the callbacks' functions (``pse.analyze_attack``,
``PSEShares``, ``cam.cam_agreement``, ``cam.localization``) over a probe set, plus the
ground-truth checks when the data carry object masks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attacks import PGD, Attack, AttackResult
from ..cam import cam_agreement, cam_guided_attack, cam_method, localization
from ..plots import as_rgb, category_overlay, heat_overlay
from ..pse import Category, PSEShares, analyze, analyze_attack, concentration

AGREEMENT_KEYS = ("agreement_suppression_true", "baseline_suppression_true", "agreement_promotion_target",
                  "baseline_promotion_target", "cam_shift")


class ExplanationTally:
    """Accumulates the PSE and CAM numbers of each attack over batches of a probe set.

    Args:
        attacks: name → attack (targeted attacks pick their targets by their ``target_rule``).
        pse_kwargs: ``pse.analyze`` settings (estimator, group_size, tau, rho).
        cam_kwargs: ``method``, ``layer``, ``threshold`` of the CAM regions; ``with_cam``: compute them.
        num_examples: images kept per attack for the report's figures.
    """

    def __init__(self, attacks: dict[str, Attack], pse_kwargs: dict, cam_kwargs: dict, with_cam: bool,
                 num_examples: int = 8, seed: int = 0) -> None:
        self.attacks, self.pse_kwargs, self.cam_kwargs = attacks, pse_kwargs, cam_kwargs
        self.with_cam, self.num_examples, self.seed = with_cam, num_examples, seed
        self.shares = {name: PSEShares() for name in attacks}
        self.attacked = {name: 0 for name in attacks}
        self.fooled = {name: 0 for name in attacks}
        self.psr: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.agreement: dict[str, dict[str, list[Tensor]]] = {name: {k: [] for k in AGREEMENT_KEYS} for name in attacks}
        self.examples: dict[str, list[Tensor]] = {name: [] for name in attacks}
        self.cam_examples: list[Tensor] = []
        self.localization: dict[str, list[Tensor]] = {"iou": [], "pointing": []}
        self.truth: dict[str, list[Tensor]] = {k: [] for k in ("suppression", "promotion", "object", "distractor")}
        self.guided: dict[str, dict[str, list[Tensor]]] = {
            name: {f"{run}_{key}": [] for run in ("full", "guided") for key in ("success", "l0", "l2", "linf")}
            for name in attacks}

    def update(self, model: nn.Module, x: Tensor, y: Tensor, extras: dict[str, Tensor]) -> None:
        with torch.no_grad():
            correct = model(x).argmax(dim=1) == y
        x, y = x[correct], y[correct]
        extras = {k: v[correct] for k, v in extras.items()}
        if not len(y):
            return
        analysis = {"group_size": None, **self.pse_kwargs}
        for name, attack in self.attacks.items():
            attacked, pse = analyze_attack(model, attack, x, y, **analysis)
            self.attacked[name] += len(y)
            if pse is None:
                continue
            won = attacked.success
            self.fooled[name] += int(won.sum())
            self.shares[name].to(x.device).update(pse)
            self.psr[name].append(pse.image_psr.cpu())
            aim = attacked.aim[won]
            room = self.num_examples - sum(len(e) for e in self.examples[name])
            if room > 0:
                pixels = pse.to_pixels(pse.category)[:room]
                self.examples[name].append(torch.cat([as_rgb(x[won][:room]), as_rgb(attacked.x_adv[won][:room]),
                                                      category_overlay(x[won][:room], pixels)], dim=3).cpu())
            if self.with_cam:
                self._guided(name, attack, model, x, y, attacked)
                scores = cam_agreement(model, x[won], attacked.x_adv[won], y[won], aim, pse, **self.cam_kwargs,
                                       seed=self.seed)
                for key in AGREEMENT_KEYS:
                    self.agreement[name][key].append(getattr(scores, key).cpu())
        if "object_mask" in extras and "distractor_mask" in extras:
            self._ground_truth(model, x, y, extras, analysis)

    def _guided(self, name: str, attack: Attack, model: nn.Module, x: Tensor, y: Tensor, full: AttackResult) -> None:
        """The attack restricted to the union of the true- and target-class regions, beside the full one."""
        guided = cam_guided_attack(attack, model, x, y, **self.cam_kwargs, full=full)
        for run, result in (("full", guided.full), ("guided", guided.guided)):
            self.guided[name][f"{run}_success"].append(result.success.float().cpu())
            for key in ("l0", "l2", "linf"):  # distortion of the successful examples
                self.guided[name][f"{run}_{key}"].append(getattr(result, key)[result.success].float().cpu())

    def _ground_truth(self, model, x, y, extras, analysis) -> None:
        """Targeted PGD toward the distractor's class; where the categories fall, and CAM localisation."""
        if self.with_cam:
            overlap, hit = localization(model, x, y, extras["object_mask"], **self.cam_kwargs)
            self.localization["iou"].append(overlap.cpu())
            self.localization["pointing"].append(hit.float().cpu())
            room = self.num_examples - len(self.cam_examples)
            if room > 0:
                maps = cam_method(self.cam_kwargs["method"])(model, x[:room], y[:room], self.cam_kwargs["layer"])
                self.cam_examples.extend(heat_overlay(x[:room], maps).cpu())
        target = extras["distractor_label"].long()
        attack = PGD(eps=16 / 255, steps=20, targeted=True, seed=self.seed)
        result = attack.run(model, x, y, target)
        won = result.success
        if not won.any():
            return
        pse = analyze(model, x[won], result.x_adv[won], y[won], target[won], **analysis)
        self.truth["suppression"].append(pse.category_mask(Category.SUPPRESSION).cpu())
        self.truth["promotion"].append(pse.category_mask(Category.PROMOTION).cpu())
        self.truth["object"].append(extras["object_mask"][won].bool().cpu())
        self.truth["distractor"].append(extras["distractor_mask"][won].bool().cpu())

    def pse_report(self) -> dict:
        out = {}
        for name, attack in self.attacks.items():
            values = self.shares[name].compute() if self.fooled[name] else None
            out[name] = {
                "attack": type(attack).__name__, "targeted": bool(attack.targeted),
                "estimator": self.pse_kwargs.get("estimator", "ablation"),
                "num_attacked": self.attacked[name], "num_analyzed": self.fooled[name],
                "success_rate": self.fooled[name] / max(self.attacked[name], 1),
                "image_type_shares": {c: _item(values, f"{c}_share") for c in ("suppression", "promotion", "balanced")},
                "group_energy_shares": {c: _item(values, f"{c}_energy") for c in ("suppression", "promotion", "balanced")},
                "mean_psr": _item(values, "mean_psr"),
            }
        if self.truth["object"]:
            t = {k: torch.cat(v) for k, v in self.truth.items()}
            out["ground_truth"] = {
                "attack": "targeted PGD-20, ℓ∞ 16/255, target = the distractor's class",
                "num_images": int(t["object"].shape[0]),
                "suppression_on_object": concentration(t["suppression"], t["object"]),
                "promotion_on_distractor": concentration(t["promotion"], t["distractor"]),
                "promotion_on_object": concentration(t["promotion"], t["object"]),
                "suppression_on_distractor": concentration(t["suppression"], t["distractor"]),
                "meaning": "share of a category's pixels inside the region over the region's area share (1 = chance)",
            }
        return out

    def cam_report(self) -> dict:
        out = {name: {key: _nanmean(self.agreement[name][key]) for key in AGREEMENT_KEYS} for name in self.attacks}
        for name in self.attacks:
            out[name]["cam_guided"] = {key: _nanmean(values) for key, values in self.guided[name].items()}
        if self.localization["iou"]:
            out["localization_iou"] = _nanmean(self.localization["iou"])
            out["pointing_game"] = _nanmean(self.localization["pointing"])
        return out

    def image_psrs(self, name: str) -> Tensor:
        return torch.cat(self.psr[name]) if self.psr[name] else torch.zeros(0)


def _item(values: dict | None, key: str) -> float | None:
    return None if values is None else float(values[key])


def _nanmean(parts: list[Tensor]) -> float | None:
    if not parts:
        return None
    value = torch.cat(parts).float().nanmean().item()
    return None if value != value else value
