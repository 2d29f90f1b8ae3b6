"""``PSECallback``: per-epoch promotion–suppression analysis on a fixed probe set."""

from __future__ import annotations

import warnings

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from ..attacks import CW, PGD, Attack
from ..plots import category_overlay, side_by_side, to_uint8
from ..pse import Category, PSEShares, analyze_attack, check_group_layout
from .media import log_media
from .probe import ProbeBatch, ProbeCallback
from .records import Records

LOGGED_SHARES = ("suppression_share", "promotion_share", "balanced_share", "suppression_energy",
                 "promotion_energy", "balanced_energy", "mean_psr")
RECORD_COLUMNS = ("label", "target", "image_type", "image_psr", "suppression_energy", "promotion_energy",
                  "balanced_energy")


def default_pse_attacks(target_rule: str = "random", seed: int = 0) -> dict[str, Attack]:
    """Targeted PGD (ℓ∞ 8/255, 20 steps, target by ``target_rule``) and untargeted C&W ℓ2 (100
    Adam steps × 5 binary-search steps; fewer than C&W's own defaults, to fit in an epoch)."""
    return {
        "pgd": PGD(steps=20, targeted=True, target_rule=target_rule, seed=seed),
        "cw": CW(steps=100, binary_search_steps=5, seed=seed),
    }


class PSECallback(ProbeCallback):
    """Attacks the correctly classified samples of the probe set and analyses the successful
    adversarial examples with ``pse.analyze`` (``docs/method.md`` §1), per attack.

    Logs, for each attack ``<name>``: ``pse/<name>/{suppression,promotion,balanced}_share``
    (share of images of each type), ``pse/<name>/{...}_energy`` (mean energy share of each
    category), ``pse/<name>/mean_psr`` (whole-image PSR), ``pse/<name>/success_rate`` (over the
    correctly classified probe samples). With a W&B logger, also (rank 0) a histogram of the
    image PSRs, a table with one row per analysed image, and a grid of ``num_media`` images:
    clean, adversarial, and the group categories overlaid (red promotion, blue suppression,
    grey balanced).

    Args:
        attacks: name → attack (default ``default_pse_attacks(target_rule, seed)``).
        target_rule: target rule of the default targeted PGD (``random``, ``least_likely``,
            ``most_likely``).
        estimator, group_size, stride, tau, rho, max_batch: passed to ``pse.analyze``;
            ``group_size=None`` picks ``default_group_size`` of the image size.
        num_media: images in the W&B overlay grid.
        every_n_epochs, num_samples, split, seed, batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        target_rule: str = "random",
        estimator: str = "ablation",
        group_size: int | None = None,
        stride: int | None = None,
        tau: float = 1.0,
        rho: float = 0.05,
        max_batch: int = 1024,
        num_media: int = 8,
        every_n_epochs: int = 1,
        num_samples: int | None = 64,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.attacks = attacks if attacks is not None else default_pse_attacks(target_rule, seed)
        self.analysis = dict(estimator=estimator, group_size=group_size, stride=stride, tau=tau, rho=rho,
                             max_batch=max_batch)
        self.num_media = num_media
        self.shares = {name: PSEShares() for name in self.attacks}
        self.success = {name: MeanMetric() for name in self.attacks}
        self.records = {name: Records(RECORD_COLUMNS) for name in self.attacks}
        self.results: dict[str, dict[str, Tensor]] = {}  # the last measurement, per attack

    def attacks_used(self) -> list[Attack]:
        return list(self.attacks.values())

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        check_group_layout(x, self.analysis["group_size"], self.analysis["stride"])

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        device = pl_module.device
        for metrics in (self.shares, self.success, self.records):
            for metric in metrics.values():
                metric.to(device).reset()
        examples: dict[str, list] | None = {} if trainer.is_global_zero else None  # media: rank 0 only
        for batch in self.probe_batches(trainer, model):
            batch = batch.select(batch.correct)
            if len(batch):
                for name, attack in self.attacks.items():
                    self._update(name, attack, model, batch, examples)
        self.results = {}
        for name in self.attacks:
            with warnings.catch_warnings():  # a probe set (or rank) with nothing to measure is legitimate
                warnings.filterwarnings("ignore", message=".*before the ``update`` method")
                values = self.shares[name].compute()
                values["success_rate"] = self.success[name].compute()  # nan when no sample was attacked
                records = self.records[name].compute()
            self.results[name] = {**values, **{f"record_{k}": v for k, v in records.items()}}
            self.log_scalars(pl_module, {f"pse/{name}/{key}": values[key] for key in (*LOGGED_SHARES, "success_rate")})
        log_media(trainer, lambda logger: self._log_media(logger, trainer, examples))

    def _update(self, name: str, attack: Attack, model: nn.Module, batch: ProbeBatch,
                examples: dict[str, list] | None) -> None:
        attacked, pse = analyze_attack(model, attack, batch.x, batch.y, **self.analysis)
        self.success[name].update(attacked.success.float())
        if pse is None:
            return
        won = attacked.success
        self.shares[name].update(pse)
        self.records[name].update(
            batch.index[won], label=batch.y[won], target=attacked.aim[won], image_type=pse.image_type,
            image_psr=pse.image_psr, suppression_energy=pse.shares[:, Category.SUPPRESSION],
            promotion_energy=pse.shares[:, Category.PROMOTION], balanced_energy=pse.shares[:, Category.BALANCED],
        )
        shown = [] if examples is None else examples.setdefault(name, [])
        room = self.num_media - sum(len(x) for x, _, _ in shown)
        if examples is not None and room > 0:
            category = pse.to_pixels(pse.category)
            shown.append((batch.x[won][:room], attacked.x_adv[won][:room], category[:room]))

    def _log_media(self, logger, trainer: pl.Trainer, examples: dict[str, list] | None) -> None:
        import wandb

        step = trainer.global_step
        for name, result in self.results.items():
            psr = result["record_image_psr"]
            if psr.numel():
                logger.log_metrics({f"pse/{name}/psr_histogram": wandb.Histogram(psr.cpu().numpy())}, step=step)
                columns = ["probe_index", *RECORD_COLUMNS]
                rows = torch.stack([result[f"record_{c}"] for c in ("index", *RECORD_COLUMNS)], dim=1).tolist()
                rows = [[int(r[0]), int(r[1]), int(r[2]), Category(int(r[3])).name.lower(), *r[4:]] for r in rows]
                logger.log_table(f"pse/{name}/images", columns=columns, data=rows, step=step)
            if examples.get(name):
                clean, adversarial, category = (torch.cat(parts) for parts in zip(*examples[name]))
                grid = side_by_side(clean, adversarial, category_overlay(clean, category))
                logger.log_image(f"pse/{name}/category_maps", images=[to_uint8(grid)], step=step,
                                 caption=["clean | adversarial | red promotion, blue suppression, grey balanced"])
