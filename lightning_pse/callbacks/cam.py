"""``CAMCallback``: per-epoch CAM agreement of the PSE categories, and CAM localisation."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..cam.settings import DEFAULT_CAM, CAMSettings
from ..pse import DEFAULT_PSE, PSESettings
from ..sections import CAMSection, Section
from .section import SectionCallback


class CAMCallback(SectionCallback):
    """For each attack, on the correctly classified probe samples it fools: the CAM agreement
    scores of ``cam.cam_agreement`` (``sections.CAMSection``; ``docs/method.md`` §2) averaged over
    images where they are defined, logged as ``cam/<attack>/{agreement,baseline}_suppression_true``,
    ``cam/<attack>/{agreement,baseline}_promotion_target`` and ``cam/<attack>/cam_shift``. When
    the data carry ``object_mask`` (the synthetic benchmark): ``cam/localization_iou`` and
    ``cam/pointing_game`` of the true-class map on the clean probe samples. With W&B, a grid of
    clean images with the true-class map beside adversarial images with the target-class map.

    With the defaults and the same probe settings as ``PSECallback``, the two callbacks share one
    attack run per probe batch (``sections.AttackRuns``).

    Args:
        attacks: name → attack (default ``presets.cam_attacks`` at the radius ``presets.model_threat``
            picks: the PSE callback's targeted PGD-20;
            its C&W is left out to keep the cost down, pass ``attacks`` to add it).
        cam: the CAM settings (``CAMSettings``, whole: ``method`` — ``cam``, ``grad_cam`` or
            ``grad_cam_pp`` —, its ``layer`` (default: the feature layer), region ``threshold``,
            baseline ``draws``; in YAML a nested block).
        pse: the PSE analysis behind the categories (``PSESettings``, as in ``PSECallback``).
        num_media: as in ``PSECallback``.
        every_n_epochs: as in ``PSECallback``.
        num_samples: as in ``PSECallback``.
        split: as in ``PSECallback``.
        seed: as in ``PSECallback``.
        batch_size: as in ``PSECallback``.
    """

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        cam: CAMSettings = DEFAULT_CAM,
        pse: PSESettings = DEFAULT_PSE,
        num_media: int = 8,
        every_n_epochs: int = 1,
        num_samples: int | None = 64,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(attacks, every_n_epochs, num_samples, split, seed, batch_size)
        self.cam, self.pse, self.num_media = cam, pse, num_media

    def default_attacks(self, norm: str, eps: float) -> dict[str, Attack]:
        return presets.cam_attacks(eps, seed=self.seed, norm=norm)

    def build_section(self, attacks: dict[str, Attack], norm: str, eps: float) -> Section:
        return CAMSection(attacks, self.cam, self.pse, num_examples=self.num_media, seed=self.seed)

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        self.section.check(model, x)
