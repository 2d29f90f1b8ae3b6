"""``RobustEvalCallback``: accuracy under attack on a fixed probe set, per epoch."""

from __future__ import annotations

from ..attacks import Attack, presets
from ..data.stats import REFERENCE_EPS
from ..sections import RobustnessSection, Section
from ..sections.robustness import attack_radius
from .schedule import ProbeCallback


class RobustEvalCallback(ProbeCallback):
    """Logs ``<split>/robust_acc`` (default ``val/robust_acc``): the share of probe samples still
    classified correctly under ``attack`` (samples misclassified clean count as errors), and
    ``<split>/probe_clean_acc`` on the same samples (``sections.RobustnessSection``).
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
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.default_attack = attack is None
        self.use_attack(attack if attack is not None else presets.robust_eval(seed=seed))

    def use_attack(self, attack: Attack, norm: str | None = None, eps: float | None = None) -> None:
        """Measure ``attack``, judged where the robustness section judges it under the threat model
        ``(norm, eps)`` (default: the attack's norm at its reference radius): a bounded attack at its
        own radius, an unbounded one (C&W, EAD) within ``presets.unbounded_radius``."""
        self.attack = attack
        norm = norm or attack.norm
        judged = attack_radius(attack, norm, REFERENCE_EPS[norm] if eps is None else eps)
        self.section = RobustnessSection(
            {"attack": attack}, *judged, seed=self.seed, prefix=self.split, check_gradients=False
        )

    def use_threat_model(self, norm: str, eps: float) -> None:
        attack = presets.robust_eval(eps, norm, self.seed) if self.default_attack else self.attack
        self.use_attack(attack, norm, eps)

    def use_cheapest_attacks(self) -> None:
        """The attack at its smallest budget, judged where the original was (same radius)."""
        self.attack = self.attack.cheapest()
        self.section.attacks = {"attack": self.attack}

    def sections(self) -> list[Section]:
        return [self.section]

    def attacks_used(self) -> list[Attack]:
        return [self.attack]
