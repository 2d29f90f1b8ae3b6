"""``RobustEvalCallback``: accuracy under attack on a fixed probe set, per epoch."""

from __future__ import annotations

from ..attacks import Attack, presets
from ..sections import RobustnessSection, Section
from ..sections.robustness import attack_radius
from .section import SectionCallback


class RobustEvalCallback(SectionCallback):
    """Logs ``<split>/robust_acc`` (default ``val/robust_acc``): the share of probe samples still
    classified correctly under ``attack`` (samples misclassified clean count as errors), and
    ``<split>/probe_clean_acc`` on the same samples (``sections.RobustnessSection``), the attack
    judged where the robustness section judges it under the threat model: a bounded attack at its
    own radius, an unbounded one (C&W, EAD) within ``presets.unbounded_radius``.
    ``ModelCheckpoint(monitor="val/robust_acc")`` selects on it (keep ``every_n_epochs=1`` then, so
    every epoch has a value).

    Args:
        attack: default ``presets.robust_eval`` at the module's training radius, or the dataset's
            standard one (``presets.model_threat``): PGD-20, step ε/4, random start, stopping on each
            sample at its first adversarial point (at ℓ1 APGD-ℓ1 with 20 steps).
        every_n_epochs: see ``ProbeCallback``.
        num_samples: see ``ProbeCallback``.
        split: see ``ProbeCallback``.
        seed: see ``ProbeCallback``.
        batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        attack: Attack | None = None,
        every_n_epochs: int = 1,
        num_samples: int | None = 512,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 128,
    ) -> None:
        super().__init__(
            None if attack is None else {"attack": attack}, every_n_epochs, num_samples, split, seed, batch_size
        )

    @property
    def attack(self) -> Attack:
        """The attack measured (known from ``setup`` on)."""
        return self.section.attacks["attack"]

    def default_attacks(self, norm: str, eps: float) -> dict[str, Attack]:
        return {"attack": presets.robust_eval(eps, norm, self.seed)}

    def build_section(self, attacks: dict[str, Attack], norm: str, eps: float) -> Section:
        judged = attack_radius(attacks["attack"], norm, eps)
        return RobustnessSection(attacks, *judged, seed=self.seed, prefix=self.split, check_gradients=False)
