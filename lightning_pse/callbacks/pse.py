"""``PSECallback``: per-epoch promotion–suppression analysis on a fixed probe set."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..pse import DEFAULT_PSE, PSESettings
from ..sections import PSESection, Section
from .section import SectionCallback


class PSECallback(SectionCallback):
    """Attacks the correctly classified samples of the probe set and analyses the successful
    adversarial examples (``sections.PSESection``; ``docs/method.md`` §1), per attack.

    Logs, for each attack ``<name>``: ``pse/<name>/{suppression,promotion,balanced}_share``
    (share of images of each type), ``pse/<name>/{...}_energy`` (mean energy share of each
    category), ``pse/<name>/mean_psr`` (whole-image PSR), ``pse/<name>/success_rate`` (over the
    correctly classified probe samples); NaN where nothing was fooled. With a W&B logger, also
    (rank 0) the image-PSR histogram, the image-type shares, a table with one row per analysed
    image, and ``num_media`` examples: clean, adversarial, and the group categories overlaid (red
    promotion, blue suppression, grey balanced).

    Args:
        attacks: name → attack (default ``presets.pse_attacks`` at the module's training radius, or
            the dataset's standard one: ``presets.model_threat``).
        target_rule: target rule of the default targeted PGD (``random``, ``least_likely``,
            ``most_likely``).
        pse: the PSE analysis's settings (``PSESettings``, whole: estimator, groups, τ, ρ, ...; in
            YAML a nested block such as ``pse: {estimator: gradient}``).
        num_media: images in the W&B overlay grid.
        every_n_epochs: see ``ProbeCallback``.
        num_samples: see ``ProbeCallback``.
        split: see ``ProbeCallback``.
        seed: see ``ProbeCallback``.
        batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        target_rule: str = "random",
        pse: PSESettings = DEFAULT_PSE,
        num_media: int = 8,
        every_n_epochs: int = 1,
        num_samples: int | None = 64,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(attacks, every_n_epochs, num_samples, split, seed, batch_size)
        self.target_rule, self.pse, self.num_media = target_rule, pse, num_media

    def default_attacks(self, norm: str, eps: float) -> dict[str, Attack]:
        return presets.pse_attacks(eps, self.target_rule, self.seed, norm)

    def build_section(self, attacks: dict[str, Attack], norm: str, eps: float) -> Section:
        return PSESection(attacks, self.pse, ground_truth=False, num_examples=self.num_media, seed=self.seed)

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        self.section.check(x)
